import sys

from groklab.cli.main import main

sys.exit(main())
