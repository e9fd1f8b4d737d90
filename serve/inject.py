"""What the content origin adds to archived HTML when archived scripts may run (``--scripts``).

In safe mode (the default) nothing is injected: the page's scripts cannot run at all
(``script-src 'none'`` and a sandbox without ``allow-scripts``), so there is nothing to confine.

With scripts, CSP already keeps every request on the bundle's own content origin; the injected
script only helps pages work (it maps URLs that scripts build into the archive) and closes the
one way out that CSP does not cover: WebRTC. STUN and TURN packets, and the DNS query for a STUN
host name, go out under ``default-src 'none'``. Chromium 152+ blocks them under the
``Connection-Allowlist`` header (`serve.policy`); for every other browser the script removes
``RTCPeerConnection`` and friends from the page, and from every frame the page can reach:
``contentWindow``/``contentDocument`` getters, every DOM insertion method (after which the new
frames' windows are cleaned before the caller gets control back), ``srcdoc`` (the script is put in
front of it) and a MutationObserver for frames the parser inserts. Frames the page cannot reach
(other origins) are all served by us with this script first, or refused by ``frame-src``.
Everything is pure ASCII, so it can go into a page in any charset.
"""

from __future__ import annotations

import json
from typing import Optional

# The WebRTC removal runs first, before anything of the page. `mk` re-applies itself to every
# same-origin window it can find; it is also put, as source text, in front of srcdoc documents.
_NO_RTC = r"""function mk(w){
var N=["RTCPeerConnection","webkitRTCPeerConnection","mozRTCPeerConnection","RTCDataChannel",
"RTCRtpSender","RTCRtpReceiver","RTCRtpTransceiver","RTCIceCandidate","RTCSessionDescription",
"RTCDtlsTransport","RTCIceTransport","RTCSctpTransport","RTCCertificate","RTCDTMFSender",
"RTCRtpScriptTransform","RTCEncodedAudioFrame","RTCEncodedVideoFrame","RTCError",
"RTCErrorEvent","RTCPeerConnectionIceEvent","RTCDataChannelEvent","RTCTrackEvent",
"RTCPeerConnectionIceErrorEvent","RTCIdentityAssertion"];
try{if(!w||w.__mkNoRTC)return w;}catch(e){return w;}
var D=Object.defineProperty,i;
try{D(w,"__mkNoRTC",{value:true});}catch(e){return w;}
for(i=0;i<N.length;i++){try{D(w,N[i],{value:undefined,writable:false,configurable:false});}
catch(e){try{delete w[N[i]];}catch(e2){}}}
try{var md=w.navigator&&w.navigator.mediaDevices;if(md){D(md,"getUserMedia",{value:undefined});
D(md,"getDisplayMedia",{value:undefined});}}catch(e){}
function sweep(){try{for(var k=0;k<w.length;k++){mk(w[k]);}}catch(e){}}
var SRC="<script>("+mk.toString()+")(window);<\/script>";
function getter(proto,name,fix){try{var d=Object.getOwnPropertyDescriptor(proto,name);
if(!d||!d.get)return;var g=d.get;d.get=function(){var v=g.call(this);fix(v);return v;};
D(proto,name,d);}catch(e){}}
function setter(proto,name){try{var d=Object.getOwnPropertyDescriptor(proto,name);
if(!d||!d.set)return;var s=d.set;d.set=function(v){var r=s.call(this,v);sweep();return r;};
D(proto,name,d);}catch(e){}}
function after(proto,name){try{var f=proto[name];if(typeof f!=="function")return;
proto[name]=function(){var r=f.apply(this,arguments);sweep();return r;};}catch(e){}}
var frames=["HTMLIFrameElement","HTMLFrameElement","HTMLObjectElement","HTMLEmbedElement"];
for(i=0;i<frames.length;i++){var P=w[frames[i]]&&w[frames[i]].prototype;if(!P)continue;
getter(P,"contentWindow",function(v){mk(v);});
getter(P,"contentDocument",function(v){try{if(v)mk(v.defaultView);}catch(e){}});}
try{var FP=w.HTMLIFrameElement.prototype,sd=Object.getOwnPropertyDescriptor(FP,"srcdoc");
if(sd&&sd.set){var ss=sd.set;sd.set=function(v){return ss.call(this,SRC+String(v));};
D(FP,"srcdoc",sd);}
var sa=w.Element.prototype.setAttribute;w.Element.prototype.setAttribute=function(n,v){
if(String(n).toLowerCase()==="srcdoc"&&this instanceof w.HTMLIFrameElement){v=SRC+String(v);}
var r=sa.call(this,n,v);sweep();return r;};
var san=w.Element.prototype.setAttributeNS;w.Element.prototype.setAttributeNS=function(ns,n,v){
if(String(n).toLowerCase()==="srcdoc"&&this instanceof w.HTMLIFrameElement){v=SRC+String(v);}
var r=san.call(this,ns,n,v);sweep();return r;};}catch(e){}
var E=w.Element&&w.Element.prototype,NP=w.Node&&w.Node.prototype;
var m=["appendChild","insertBefore","replaceChild"];
for(i=0;i<m.length;i++){if(NP)after(NP,m[i]);}
var em=["append","prepend","after","before","replaceWith","replaceChildren",
"insertAdjacentElement","insertAdjacentHTML","setHTMLUnsafe"];
var owners=[E,w.Document&&w.Document.prototype,w.DocumentFragment&&w.DocumentFragment.prototype,
w.CharacterData&&w.CharacterData.prototype,w.DocumentType&&w.DocumentType.prototype];
for(var o=0;o<owners.length;o++){if(!owners[o])continue;for(i=0;i<em.length;i++){
if(Object.prototype.hasOwnProperty.call(owners[o],em[i]))after(owners[o],em[i]);}}
if(E){setter(E,"innerHTML");setter(E,"outerHTML");}
if(w.ShadowRoot){setter(w.ShadowRoot.prototype,"innerHTML");}
if(w.HTMLElement){setter(w.HTMLElement.prototype,"innerText");
setter(w.HTMLElement.prototype,"outerText");}
if(w.Document){after(w.Document.prototype,"write");after(w.Document.prototype,"writeln");
after(w.Document.prototype,"importNode");after(w.Document.prototype,"adoptNode");}
try{if(w.MutationObserver&&w.document){new w.MutationObserver(function(l){
for(var a=0;a<l.length;a++){var ad=l[a].addedNodes;for(var b=0;b<ad.length;b++){
var n=ad[b];if(n&&n.tagName==="IFRAME"&&n.hasAttribute("srcdoc")&&!n.__mkSrc){
n.__mkSrc=1;var t=n.getAttribute("srcdoc");if(t.indexOf(SRC)!==0){n.setAttribute("srcdoc",t);}}}}
sweep();}).observe(w.document,{childList:true,subtree:true});}}catch(e){}
try{w.open=function(){return null;};}catch(e){}
return w;}"""

_SHIM = r"""<script>/* mirrorkit replay: no WebRTC, scripted requests kept in the archive */
(function(){(%(no_rtc)s)(window);
var P=%(prefix)s,B=%(bundle)s,O=%(orig)s,L=location.origin;
function rw(u){var s=String(u);if(/^(data|blob|javascript|about):/i.test(s))return s;var a;
try{a=new URL(s,document.baseURI);}catch(e){return s;}
if(a.origin===L){if(a.pathname.indexOf(B)===0)return a.href;
try{a=new URL(a.pathname+a.search+a.hash,O);}catch(e){return s;}}
if(!/^https?:$/.test(a.protocol))return s;return L+P+a.href;}
var f=window.fetch;if(f){window.fetch=function(i,o){
if(typeof Request!=="undefined"&&i instanceof Request){i=new Request(rw(i.url),i);}
else{i=rw(i);}return f.call(this,i,o);};}
var x=XMLHttpRequest.prototype.open;XMLHttpRequest.prototype.open=function(m,u){
var a=Array.prototype.slice.call(arguments);a[1]=rw(u);return x.apply(this,a);};
if(navigator.sendBeacon){navigator.sendBeacon=function(){return false;};}
if(window.EventSource){var E=window.EventSource;
window.EventSource=function(u,c){return new E(rw(u),c);};}
window.WebSocket=function(){throw new Error("WebSocket is not available in an archived copy");};
})();</script>"""


def _js(value: str) -> str:
    # JSON is valid JS; escaping '<' and non-ASCII keeps it inert inside <script> in any charset
    return json.dumps(value).replace("<", "\\u003c")


_client_rewrite: Optional[str] = None


def _client_rewrite_js() -> str:
    """serve/static/client_rewrite.js (browser capture's client-side rewriting), if shipped."""
    global _client_rewrite
    if _client_rewrite is None:
        from importlib.resources import files

        resource = files("serve").joinpath("static").joinpath("client_rewrite.js")
        try:
            text = resource.read_text("utf-8") if resource.is_file() else ""
        except (OSError, UnicodeDecodeError):
            text = ""
        # inert inside <script> and pure ASCII, whatever the page's charset
        text = text.replace("</", "<\\/").encode("ascii", "backslashreplace").decode("ascii")
        _client_rewrite = text
    return _client_rewrite


def shim_script(prefix: str, bundle_prefix: str, original_url: str) -> str:
    """The ``<script>`` that removes WebRTC and maps scripted request URLs into ``prefix``."""
    return _SHIM % {"no_rtc": _NO_RTC, "prefix": _js(prefix), "bundle": _js(bundle_prefix),
                    "orig": _js(original_url)}


def client_scripts(prefix: str, page_url: str) -> str:
    """Everything injected into an archived HTML page when its scripts may run: the shim, then
    ``window.__MK_REWRITE`` and client_rewrite.js (when that file is shipped)."""
    bundle_prefix = "/" + prefix.strip("/").split("/", 1)[0] + "/"
    out = shim_script(prefix, bundle_prefix, page_url)
    js = _client_rewrite_js()
    if js:
        out += ("<script>window.__MK_REWRITE={prefix:" + _js(prefix) + ",pageUrl:"
                + _js(page_url) + "};\n" + js + "\n</script>")
    return out
