from mirrorkit.cli import run

run()
