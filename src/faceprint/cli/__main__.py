"""``python -m faceprint.cli``: the command line."""

from faceprint.cli import main

main()
