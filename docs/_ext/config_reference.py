"""The configuration reference, written from ``vade_tf/config.py`` itself.

``.. config-reference:: SECTION`` renders one section of the config as a table: every key, its
default, what it allows and the comment that stands above it in the code. SECTION is ``top`` (the
keys outside every section), a section (``data``, ``model``, ...), or an entry's own section:
``model.networks mlp`` for an architecture, ``data.options custom`` for a dataset. The reference is
rebuilt from the code at every build, so it cannot drift from it.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from vade_tf import registry
from vade_tf.config import Config
from vade_tf.validation import AUTO

BOUNDS = {"minimum": ">= {}", "above": "> {}", "below": "< {}", "at_most": "<= {}"}


def field_comments(cls: type) -> dict[str, str]:
    """Each field's comment: the ``#`` lines right above it, or, for a field on the line after
    another's, that field's comment (two keys described together)."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    comments: dict[str, str] = {}
    previous = None
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, block = node.lineno - 2, []
        while above >= 0 and lines[above].strip().startswith("#"):
            block.insert(0, lines[above].strip().lstrip("#").strip())
            above -= 1
        if block:
            comments[node.target.id] = " ".join(block)
        elif previous is not None and previous.end_lineno == node.lineno - 1:
            comments[node.target.id] = comments.get(previous.target.id, "")
        else:
            comments[node.target.id] = ""
        previous = node
    return comments


def _default(field: dataclasses.Field) -> str:
    if field.default_factory is not dataclasses.MISSING:
        return "(a section)"
    if field.default == AUTO:
        return '"auto"'
    return json.dumps(field.default)


def _allowed(field: dataclasses.Field) -> str:
    """What ``validation.check_config`` allows of a field, in words."""
    rules = field.metadata
    if "schema" in rules:
        return "the entry's own section"
    words = []
    if "choices" in rules:
        words.append("one of " + ", ".join(json.dumps(choice) for choice in rules["choices"]))
    words += [BOUNDS[name].format(rules[name]) for name in BOUNDS if name in rules]
    if rules.get("nonempty"):
        words.append("not empty")
    if rules.get("auto"):
        words.append('or "auto"')
    return "; ".join(words)


def section_keys(section: str) -> tuple[str, type]:
    """The dotted prefix and the dataclass of ``section`` (see the module docstring)."""
    name, _, entry = section.partition(" ")
    if name == "top":
        return "", Config
    if name == "model.networks":
        return "model.networks.", registry.options_schema(registry.ARCHITECTURES, entry)
    if name == "data.options":
        return "data.options.", registry.options_schema(registry.DATASETS, entry)
    return f"{name}.", next(f.default_factory for f in dataclasses.fields(Config) if f.name == name)


def rows(section: str) -> list[tuple[str, str, str, str]]:
    """(key, default, allowed, what it does) of every key of ``section``; a nested section is one
    row (the top level's sections have tables of their own)."""
    prefix, schema = section_keys(section)
    comments = field_comments(schema)
    return [(prefix + field.name, _default(field), _allowed(field), comments[field.name])
            for field in dataclasses.fields(schema)
            if not (section == "top" and field.default_factory is not dataclasses.MISSING)]


class ConfigReference(SphinxDirective):
    required_arguments = 1
    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        table = nodes.table(classes=["config-reference"])
        group = nodes.tgroup(cols=4)
        table += group
        for width in (22, 14, 22, 42):
            group += nodes.colspec(colwidth=width)

        def row(cells, literal=(True, True, False, False)) -> nodes.row:
            line = nodes.row()
            for text, code in zip(cells, literal):
                entry = nodes.entry()
                shown = nodes.literal(text, text) if code and text else nodes.Text(text)
                entry += nodes.paragraph("", "", shown)
                line += entry
            return line
        head = nodes.thead()
        head += row(("key", "default", "allowed", "what it does"), (False,) * 4)
        body = nodes.tbody()
        for cells in rows(" ".join(self.arguments)):
            body += row(cells)
        group += head
        group += body
        return [table]


def setup(app):
    app.add_directive("config-reference", ConfigReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
