"""The README and docs/ stay true to the repository: every relative link and anchor resolves
(GitHub's heading slugs), and every command a ``sh`` block tells a user to run still exists:
its ``make`` targets and variables, console scripts, ``python -m`` modules, script files, and
the config groups, options and top-level keys it sets."""

from __future__ import annotations

import importlib.util
import re
import shlex
from collections import Counter
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF, ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", flags=re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """`text` without its fenced blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|_(?=\W)|(?<=\W)_", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor on `page`, a repeated one numbered as GitHub numbers it."""
    seen: Counter[str] = Counter()
    out = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", page.read_text()), flags=re.M):
        base = slug(heading)
        out.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    return out


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page.read_text())) if not re.match(r"[a-z][\w+.-]*:", t)]


@pytest.mark.parametrize("heading,anchor", [
    ("Weights & Biases", "weights--biases"), ("`.env`", "env"), ("The paper's grid", "the-papers-grid"),
    ("Pruning and effective density (section 3.2)", "pruning-and-effective-density-section-32"),
    ("Set-up", "set-up"), ("Section 5: mechanisms", "section-5-mechanisms"),
])
def test_slugs_follow_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{target}: no heading with this anchor")
    assert broken == []


def test_the_readme_links_every_docs_page() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(ROOT / "README.md")}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


# ---- the commands --------------------------------------------------------------------------


def commands(page: Path) -> list[list[str]]:
    """Each command of `page`'s ``sh`` blocks as words: continuation lines joined, comments
    dropped, ``&&``/``;``/``|`` chains split, leading ``VAR=value`` assignments removed."""
    out = []
    for info, body in FENCE.findall(page.read_text()):
        if info.strip() not in ("sh", "bash", "shell"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            words: list[str] = []
            for word in [*shlex.split(line, comments=True), ";"]:
                if word in ("&&", "||", ";", "|"):
                    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
                        words.pop(0)
                    if words:
                        out.append(words)
                    words = []
                else:
                    words.append(word)
    return out


def make_targets_and_variables() -> tuple[set[str], set[str]]:
    text = (ROOT / "Makefile").read_text()
    targets = {t for line in re.findall(r"^([\w .-]+):(?!=)", text, flags=re.M) for t in line.split()}
    variables = set(re.findall(r"\$\((\w+)\)", text)) | set(re.findall(r"^(\w+)\s*[?:+]?=", text, flags=re.M))
    return targets, variables


def console_scripts() -> dict[str, str]:
    """``[project.scripts]`` of pyproject.toml: name -> module (read as text: Python 3.10 has no
    tomllib)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.]+):\w+"', section, flags=re.M))


def config_problems(overrides: list[str]) -> list[str]:
    """Overrides naming a config group's option, or a top-level key, that does not exist."""
    groups = {p.name for p in CONF.iterdir() if p.is_dir() and not p.name.startswith("_")}
    top = set(OmegaConf.load(CONF / "train.yaml")) | {"hydra"}
    problems = []
    for override in overrides:
        if "=" not in override or override.startswith("-"):
            continue
        key, value = override.split("=", 1)
        key = key.lstrip("+~")
        if "searchpath" in key:
            return []  # the user's own config folder: their groups, not ours
        if key in groups:
            options = {p.stem for p in (CONF / key).glob("*.yaml")}
            problems += [f"{key}={o}" for o in value.split(",") if o not in options and o != "null"]
        elif key.split(".")[0] not in groups | top:
            problems.append(f"{key}: no such top-level key or group")
    return problems


def command_problems(words: list[str]) -> list[str]:
    """What in one command no longer exists."""
    program, args = words[0], words[1:]
    targets, variables = make_targets_and_variables()
    scripts = console_scripts()
    if program == "make":
        problems = []
        for arg in args:
            if "=" in arg:
                name, value = arg.split("=", 1)
                problems += [] if name in variables else [f"make variable {name}"]
                if name == "ARGS":
                    problems += config_problems(shlex.split(value))
            elif not arg.startswith("-") and arg not in targets:
                problems.append(f"make target {arg}")
        return problems
    if program in scripts:
        return config_problems(args) if scripts[program] == "propensity.train" else []
    if program.startswith("propensity-"):
        return [f"console script {program}"]
    if program in ("python", "python3") or program.endswith("/python"):
        if args[:1] == ["-m"]:
            module = args[1]
            if importlib.util.find_spec(module) is None:
                return [f"python -m {module}"]
            return config_problems(args[2:]) if module == "propensity.train" else []
        if args and args[0].endswith(".py") and not (ROOT / args[0]).is_file():
            return [f"script {args[0]}"]
    return []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_still_exists(page: Path) -> None:
    found = {" ".join(words): command_problems(words) for words in commands(page)}
    assert {command: problems for command, problems in found.items() if problems} == {}


def test_the_readme_tells_how_to_set_up_and_run() -> None:
    found = [" ".join(words) for words in commands(ROOT / "README.md")]
    assert found[:2] == ["make install", "source .venv/bin/activate"]
    assert "make demo" in found and any(c.startswith("python -m propensity.train") for c in found)


def test_the_checks_catch_what_is_gone() -> None:
    assert command_problems(["make", "demoo"]) == ["make target demoo"]
    assert command_problems(["make", "install", "TORCH_INDX=x"]) == ["make variable TORCH_INDX"]
    assert command_problems(["python", "-m", "propensity.trian"]) == ["python -m propensity.trian"]
    assert command_problems(["propensity-train", "model=mlpp,conv2"]) == ["model=mlpp"]
    assert command_problems(["python", "-m", "propensity.train", "widht=1"]) == [
        "widht: no such top-level key or group"]
    assert command_problems(["make", "train", "ARGS=experiment=nope width=2"]) == ["experiment=nope"]
    assert command_problems(["propensity-trian"]) == ["console script propensity-trian"]
