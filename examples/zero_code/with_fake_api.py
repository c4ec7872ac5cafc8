"""Run a command with the local fake provider standing in for each API whose key is unset.

    python examples/zero_code/with_fake_api.py -- COMMAND [ARG...]

For Anthropic when `ANTHROPIC_API_KEY` is unset, and for OpenAI when `OPENAI_API_KEY` is,
it starts `otel_token_usage.testing.FakeProvider` on 127.0.0.1 and runs COMMAND with the
SDKs' own variables pointing at it (`ANTHROPIC_BASE_URL` and a dummy `ANTHROPIC_API_KEY`;
`OPENAI_BASE_URL` and a dummy `OPENAI_API_KEY`). With both keys set, COMMAND talks to the
real APIs. The app itself needs no change either way. Exits with COMMAND's status.
"""

from __future__ import annotations

import os
import subprocess
import sys

from otel_token_usage.testing import FakeProvider


def main(argv: list[str]) -> int:
    """Run `argv` (after an optional `--`) next to the fake provider; its exit status."""
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        print("usage: with_fake_api.py -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
    with FakeProvider() as fake:
        if not env.get("ANTHROPIC_API_KEY"):
            env.update(ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY="fake")
        if not env.get("OPENAI_API_KEY"):
            env.update(OPENAI_BASE_URL=fake.openai_base_url, OPENAI_API_KEY="fake")
        return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
