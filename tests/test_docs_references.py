"""What README.md, BENCHMARKS.md and the commands' docstrings name exists.

Every command line they show is one its script accepts: each runs as `python` would run it, up
to the point where its arguments are parsed, and stops there, so nothing is trained, read or
written. Every `attention.…` name they cite imports, and every project path they cite is there.
A renamed option, a dropped choice, a benchmark variant, function or file that no longer exists
fails here, not in a reader's shell.
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from script_runs import run_until_parsed

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "BENCHMARKS.md")
# Module docstrings are what --help prints.
SOURCES = ("attention", "scripts", "benchmarks")
COMMAND = re.compile(r"\bpython\s+(-m\s+attention\.\w+|scripts/\w+\.py|benchmarks/\w+\.py)\b")
FENCED = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
SHELL_PUNCTUATION = "<>|&;()"


def snippets(text: str):
    """The lines of the fenced blocks (continuations joined; a command quoted in a `# = ...`
    comment counts) and the inline code spans of the prose."""
    for block in FENCED.findall(text):
        lines = (re.sub(r"^\s*#\s*=?\s*", "", line) for line in block.splitlines())
        yield from "\n".join(lines).replace("\\\n", " ").splitlines()
    for span in re.findall(r"`([^`]+)`", FENCED.sub("", text)):
        yield span.replace("\n", " ")


def documented_commands() -> list[tuple[str, str, list[str], dict[str, str]]]:
    """(document, target, arguments, environment) of each command line: the target is `-m MODULE` or a
    script's path."""
    texts = {name: snippets((ROOT / name).read_text(encoding="utf-8")) for name in DOCUMENTS}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            texts[str(path.relative_to(ROOT))] = docstring.splitlines()
    commands = []
    for document, lines in texts.items():
        for snippet in lines:
            for match in COMMAND.finditer(snippet):
                words = shlex.shlex(snippet[match.end():], posix=True, punctuation_chars=SHELL_PUNCTUATION)
                words.whitespace_split, words.commenters = True, "#"
                argv = []
                for word in words:
                    if set(word) <= set(SHELL_PUNCTUATION):  # a redirection, a pipe, `&&`: the command ends
                        break
                    argv.append(word)
                commands.append((document, " ".join(match.group(1).split()), argv, environment(snippet[: match.start()])))
    return commands


def environment(prefix: str) -> dict[str, str]:
    """The `NAME=value` assignments that the command line before `python` sets (`KERAS_BACKEND=torch`)."""
    command = re.split(r"&&|\|\||;|\|", prefix)[-1]
    return dict(word.split("=", 1) for word in command.split() if re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", word))


COMMANDS = documented_commands()


def test_the_documents_show_commands_of_every_kind():
    targets = {target for _, target, _, _ in COMMANDS}
    assert {"scripts/train_imdb.py", "scripts/train_text.py", "scripts/visualize_attention.py", "scripts/benchmark.py",
            "-m attention.predict", "-m attention.serving", "-m attention.evaluation",
            "benchmarks/tf1_reference.py"} <= targets


@pytest.mark.parametrize("document, target, argv, env", COMMANDS,
                         ids=[f"{d}:{t} {' '.join(a)}"[:90] for d, t, a, _ in COMMANDS])
def test_documented_command_parses(document, target, argv, env, monkeypatch, capsys):
    status = run_until_parsed(target, argv, monkeypatch, env)
    assert status is None or (status == 0 and "--help" in argv), \
        f"{document}: {target} {shlex.join(argv)}\n{capsys.readouterr().err}"


def cited(pattern: str) -> list[tuple[str, str]]:
    """(document, text) of each inline code span of the documents that `pattern` matches whole."""
    return [(document, span) for document in DOCUMENTS
            for span in re.findall(r"`([^`\n]+)`", (ROOT / document).read_text(encoding="utf-8"))
            if re.fullmatch(pattern, span)]


NAMES = cited(r"attention(\.\w+)+(\(.*)?")
PATHS = cited(r"(attention|benchmarks|docs|scripts|tests)/[\w./-]*")


@pytest.mark.parametrize("document, name", NAMES, ids=[name for _, name in NAMES])
def test_cited_name_imports(document, name):
    parts = name.split("(")[0].split(".")
    for split in range(len(parts), 0, -1):  # the longest module, then attributes
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            assert hasattr(target, attribute), f"{document} cites `{name}`: {target.__name__} has no {attribute!r}"
            target = getattr(target, attribute)
        return
    pytest.fail(f"{document} cites `{name}`, which is not a module")


def test_cited_paths_are_in_the_project():
    try:  # what a clone has, not what this checkout happens to hold
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        files = [str(path.relative_to(ROOT)) for path in ROOT.rglob("*") if path.is_file()]
    # What runs write, ignored by git: cited as where to look, not as files of the project.
    written = {"benchmarks/runs/"}
    missing = [(document, path) for document, path in PATHS
               if path not in written and not any(f == path or f.startswith(path.rstrip("/") + "/") for f in files)]
    assert len(PATHS) > 20 and not missing
