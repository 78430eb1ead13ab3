"""The commands README.md and the user guide show, as a reader copies them: each line of their
```bash blocks, with a trailing backslash joining the next line and comments left out."""
import re
import textwrap

from conftest import ROOT

# README first: the guide's pages go on from the runs its quick start made.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.md"))]


def commands(page) -> list[str]:
    """Every command line of the page's ```bash blocks, in order."""
    found = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", page.read_text(), flags=re.S | re.M):
        joined = re.sub(r"\s*\\\n\s*", " ", textwrap.dedent(block))
        lines = [line.strip() for line in joined.splitlines()]
        found += [line for line in lines if line and not line.startswith("#")]
    return found


def inline_commands(page, programs) -> list[str]:
    """The commands the page's prose shows inline (``python train.py --config ...``), of the given
    programs; a usage synopsis (``[--flag ...]``) is no command."""
    spans = re.findall(r"`([^`\n]+)`", page.read_text())
    return [span for span in spans if span.startswith(tuple(f"{program} " for program in programs))
            and "[" not in span]


def every_command() -> list[tuple[str, str]]:
    """(page name, command) of every page, README first."""
    return [(page.name, command) for page in PAGES for command in commands(page)]
