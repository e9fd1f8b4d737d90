"""The reader's words in English and Simplified Chinese, picked from the browser's language.

A visible switch overrides it: ``?lang=en|zh`` on the lists, a ``~zh``/``~en`` segment in a
replay address (`serve.reader`), so the choice travels in the address, never in a cookie.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

LANGS = ("en", "zh")
HTML_LANG = {"en": "en", "zh": "zh-CN"}

T: Dict[str, Tuple[str, str]] = {
    "reader": ("offline archive reader", "离线存档阅读器"),
    "footer": ("Served from this computer only: nothing on these pages is fetched from the "
               "internet.", "本页面内容全部来自本机存档，不会访问互联网。"),
    "switch": ("中文", "English"),
    "archived_copy": ("Archived copy", "存档副本"),
    "scripts_off_short": ("scripts off", "脚本已关闭"),
    "scripts_on_short": ("scripts ON", "脚本已开启"),
    "frame_title": ("The archived page", "存档页面"),
    # verdicts: fixed wording, icon and colour; never built from bundle text
    "v_trusted": ("verified, trusted signer", "已验证，签名者受信任"),
    "v_untrusted": ("signature valid, signer not in your trust store",
                    "签名有效，但签名者未被信任"),
    "v_verifying": ("still checking signature and file hashes", "正在验证签名和文件"),
    "v_failed": ("verification FAILED: do not trust this copy", "验证失败：请勿信任此副本"),
    "r_trusted": ("Signature and every file hash verified; the signer is in your trust store.",
                  "签名和所有文件校验均通过；签名者在你的信任列表中。"),
    "r_untrusted": ("Signature and every file hash verified, but the signer is not in your "
                    "trust store: compare the fingerprint with the publisher's card.",
                    "签名和所有文件校验均通过，但签名者不在你的信任列表中：请与发布者的卡片核对指纹。"),
    "r_verifying": ("The signature and file hashes are being checked.", "正在检查签名和文件校验值。"),  # noqa: E501 (CJK text)
    "publisher": ("Publisher (as the bundle names itself)", "发布者（存档自称）"),
    "fingerprint": ("Key fingerprint", "密钥指纹"),
    "captured": ("Captured", "抓取时间"),
    "address": ("Original address", "原始网址"),
    "title": ("Title (from the archive)", "标题（来自存档）"),
    "all_pages": ("all pages", "全部页面"),
    "all_bundles": ("all bundles", "全部存档"),
    "details": ("details", "详情"),
    "unknown": ("unknown (not stated in the bundle)", "未知（存档未注明）"),
    "none": ("none", "无"),
    "scripts_off": ("Scripts are off: archived pages cannot run code here, so a page that "
                    "was broken into cannot harm you. Pages built by JavaScript may look "
                    "incomplete.", "脚本已关闭：存档页面无法在此运行代码，被入侵的网站也无法伤害你。"  # noqa: E501 (CJK text)
                    "依赖 JavaScript 的页面可能显示不完整。"),
    "scripts_on": ("Scripts are ON for this archive. They stay inside it: they cannot reach "
                   "the internet, this reader or other archives, but they can use your "
                   "computer's processor. In browsers older than Chrome 152, and in Firefox "
                   "and Safari, a page that gets around the reader's removal of WebRTC could "
                   "still send WebRTC packets.",
                   "此存档的脚本已开启。脚本被限制在存档内：无法访问互联网、本阅读器或其他存档，"
                   "但可能占用电脑的处理器。在 Chrome 152 之前的浏览器以及 Firefox、Safari 中，"
                   "绕过阅读器对 WebRTC 屏蔽的页面仍可能发出 WebRTC 数据包。"),
    "scripts_wait": ("Scripts stay off until this archive has passed verification.",
                     "在存档通过验证之前，脚本保持关闭。"),
    "scripts_never": ("Scripts can never run for an archive that failed verification.",
                      "验证失败的存档永远不能运行脚本。"),
    "scripts_enable": ("Run this archive's scripts (until the reader stops)",
                       "运行此存档的脚本（直到阅读器停止）"),
    "scripts_disable": ("Turn scripts off again", "重新关闭脚本"),
    "scripts_warn": ("Only do this for an archive from a publisher you trust. Archived "
                     "scripts come from the original site, which may have been broken into.",
                     "只对来自你信任的发布者的存档这样做。存档中的脚本来自原网站，而原网站可能已被入侵。"),
    "snapshot": ("shown from its rendered snapshot (the page as the browser built it)",
                 "显示的是渲染快照（浏览器生成的页面）"),
    "failed_head": ("This archive failed verification: its pages are not shown",
                    "此存档验证失败：不显示其页面"),
    "failed_body": ("Someone may have changed it, or the copy is damaged. Do not rely on "
                    "anything in it.", "它可能已被篡改，或副本已损坏。请不要相信其中的任何内容。"),
    "failed_show": ("Show the page anyway (scripts off, under a red warning)",
                    "仍然显示此页面（脚本关闭，并带有红色警告）"),
    "missing": ("Not in this archive", "存档中没有此页面"),
    "missing_body": ("This address was not captured in this bundle, so there is nothing to "
                     "show. Nothing was fetched from the internet.",
                     "此网址未被收录在此存档中，因此无可显示。没有从互联网获取任何内容。"),
    "damaged": ("This record is damaged", "此记录已损坏"),
    "damaged_body": ("The archived bytes for this address do not match the fingerprint the "
                     "signed bundle gives for them, so they are not shown. The rest of the "
                     "bundle still works.", "此网址的存档数据与签名存档中记录的指纹不符，因此不予显示。"  # noqa: E501 (CJK text)
                     "存档的其余部分仍可使用。"),
    "damaged_source": ("This record was damaged before it was bundled", "此记录在打包前已损坏"),
    "damaged_source_body": ("The publisher bundled it already damaged, and the signed bundle "
                            "says so: it is not shown. The rest of the bundle still works.",
                            "发布者打包时此记录已损坏，签名存档中已注明：不予显示。"
                            "存档的其余部分仍可使用。"),
    "too_large": ("This page is too large to show", "此页面过大，无法显示"),
    "too_large_body": ("Unpacking or rewriting it would take more memory or time than this "
                       "reader gives one page, which is what a page built to harm readers "
                       "does. It is not shown.",
                       "解压或改写此页面所需的内存或时间超出阅读器为单个页面设定的上限，"
                       "这正是恶意页面的特征，因此不予显示。"),
    "not_replay": ("Not a replay address", "不是存档网址"),
    "not_replay_body": ("Replay addresses look like /<bundle>/<timestamp>/<original address>.",
                        "存档网址的格式为 /<存档>/<时间>/<原始网址>。"),
    "unreadable": ("This bundle cannot be read", "无法读取此存档"),
    "bundles": ("Archived bundles", "存档"),
    "no_bundles": ("No bundles are open.", "没有打开的存档。"),
    "pages_n": ("pages", "页"),
    "file": ("File", "文件"),
    "open_main": ("Open the main page →", "打开主页 →"),
    "search": ("Search titles and text", "搜索标题和正文"),
    "search_btn": ("Search", "搜索"),
    "matching": ("matching", "匹配"),
    "description": ("Description", "描述"),
    "created": ("Bundle created", "存档创建时间"),
    "checks": ("Every check that ran", "全部检查"),
    "check_card": ("Check the fingerprint against the publisher's printed card before you rely "
                   "on these pages. A valid signature proves who packaged this archive and that "
                   "nothing changed since; it does not prove what the original web site sent.",
                   "在依赖这些页面之前，请用发布者打印的卡片核对指纹。有效的签名证明了是谁打包了此存档、"
                   "以及此后没有任何改动；但它不能证明原网站当时发送的内容。"),
    "pages_damaged": ("The page list is damaged, so this list may be incomplete",
                      "页面列表已损坏，可能不完整"),
    "first_n": ("Showing the first entries; search to narrow down.", "只显示前面的条目；请用搜索缩小范围。"),  # noqa: E501 (CJK text)
    "not_found": ("Not found", "未找到"),
}


def pick(arg: Optional[str], accept_language: str) -> str:
    """``arg`` when it names a language, else the first of ours in Accept-Language, else en.

    >>> pick(None, "zh-CN,zh;q=0.9,en;q=0.8"), pick("en", "zh-CN"), pick(None, "fr, de")
    ('zh', 'en', 'en')
    """
    if arg in LANGS:
        return str(arg)
    ranked = []
    for n, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, n, tag.strip().lower()))
    for _q, _n, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)`` in ``lang``."""
    i = 1 if lang == "zh" else 0

    def t(key: str) -> str:
        pair = T.get(key)
        return pair[i] if pair else key

    return t


def install(app: Any) -> None:
    """Gives every template ``t``, ``lang``, ``html_lang`` and ``L(url)`` (keeps ``?lang=``)."""
    from flask import g, request

    @app.before_request
    def _pick() -> None:
        explicit = request.args.get("lang")
        g.lang_explicit = explicit if explicit in LANGS else None
        g.lang = pick(g.lang_explicit, request.headers.get("Accept-Language", ""))

    @app.context_processor
    def _helpers() -> Dict[str, Any]:
        lang = getattr(g, "lang", "en")
        explicit = getattr(g, "lang_explicit", None)

        def link(url: str) -> str:
            if not explicit:
                return url
            return url + ("&" if "?" in url else "?") + "lang=" + explicit

        from urllib.parse import quote, urlencode

        other = "zh" if lang == "en" else "en"
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
        here = quote(request.path) + "?" + urlencode(args + [("lang", other)])
        return {"t": translator(lang), "lang": lang, "html_lang": HTML_LANG[lang], "L": link,
                "switch_url": here, "lang_explicit": explicit}
