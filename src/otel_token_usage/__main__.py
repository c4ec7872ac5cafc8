"""`python -m otel_token_usage`: the `token-usage` command."""

import sys

from otel_token_usage.cli import main

sys.exit(main())
