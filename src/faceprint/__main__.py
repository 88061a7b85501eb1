"""``python -m faceprint``: the command line (as under ``torchrun -m faceprint train``)."""

from faceprint.cli import main

main()
