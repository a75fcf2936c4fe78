"""The message catalogues: extract marked strings, update the .po files, compile the .mo files.

``python -m complaints.i18n_tools`` does all three (re-run it whenever strings change, then
translate what ``check`` lists); ``extract -o FILE``, ``update``, ``compile``, ``check`` and
``missing`` run one part. The extraction follows babel.cfg, as ``pybabel extract -F babel.cfg``.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from complaints.config import ROOT

MAPPING = ROOT / "babel.cfg"
TRANSLATIONS = ROOT / "complaints" / "translations"
DOMAIN = "messages"
# English is the source language: it needs no catalogue. The Chinese one is named as Babel
# names the locale: Flask-Babel parses the staff's "zh_CN" into zh_Hans_CN and looks for that.
LOCALES = ("zh_Hans_CN",)
SOURCE_DIRS = ("complaints", "templates")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
# %(name)s, %s, %d …, the escaped %% and a lone % (in Python-only strings): kept as they are.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]|%")


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"


def _only_sources(dirpath: str) -> bool:
    rel = Path(dirpath).resolve().relative_to(ROOT).parts
    if not rel:
        return True
    if rel[0] not in SOURCE_DIRS:
        return False
    return not any(p.startswith((".", "_")) or p in ("translations", "static") for p in rel)


def extract() -> Catalog:
    """Every marked string in the sources babel.cfg names, with where it occurs."""
    with MAPPING.open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(MAPPING))
    catalog = Catalog(project="complaints", domain=DOMAIN, charset="utf-8", fuzzy=False)
    found = extract_from_dir(
        ROOT,
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
        directory_filter=_only_sources,
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(
            message,
            None,
            [(Path(filename).as_posix(), lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def read_catalog(locale: str) -> Catalog:
    path = po_path(locale)
    if not path.exists():
        return Catalog(locale=locale, domain=DOMAIN, project="complaints", fuzzy=False)
    with path.open("rb") as f:
        return read_po(f, locale=locale, domain=DOMAIN)


def write_catalog(catalog: Catalog, locale: str) -> None:
    path = po_path(locale)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(
        buf,
        catalog,
        width=100,
        sort_output=False,
        ignore_obsolete=True,
        include_previous=False,
        include_lineno=False,
    )
    path.write_bytes(buf.getvalue())


def update(template: Catalog | None = None) -> dict[str, int]:
    """Merge the extracted messages into each .po: new ones empty, vanished ones dropped."""
    template = template or extract()
    counts = {}
    for locale in LOCALES:
        catalog = read_catalog(locale)
        before = {m.id for m in catalog if m.id}
        created = catalog.creation_date
        # No fuzzy matching: a guessed translation of a similar string is worse than none.
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        if {m.id for m in catalog if m.id} == before:
            catalog.creation_date = created  # nothing new: leave the file (and the .mo) unchanged
        _set_header(catalog, locale)
        write_catalog(catalog, locale)
        counts[locale] = len(missing(locale, catalog))
    return counts


def _set_header(catalog: Catalog, locale: str) -> None:
    catalog.project = "complaints"
    catalog.version = ""
    catalog.msgid_bugs_address = ""
    catalog.last_translator = "complaints developers"
    catalog.language_team = "Simplified Chinese"
    catalog.header_comment = (
        f"# {locale} messages of complaints. Update with: python -m complaints.i18n_tools\n"
        "# Terms as in DOMAIN.md: 首问负责, 致歉, 倾听, 确认, 分析, 协议, 行动, 预防, 确认满意, 服务禁语."
    )


def compiled(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def compile_catalogs() -> None:
    """Write each .mo from its .po (the .mo files are committed: an install needs no build step)."""
    for locale in LOCALES:
        mo_path(locale).write_bytes(compiled(read_catalog(locale)))


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def _strings(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def missing(locale: str, catalog: Catalog | None = None) -> list[Message]:
    """The messages of a catalogue that still need a translator: empty or fuzzy."""
    catalog = catalog or read_catalog(locale)
    return [m for m in catalog if m.id and (m.fuzzy or not _translated(m))]


def _translated(m: Message) -> bool:
    strings = _strings(m.string or "")
    return bool(strings) and all(s.strip() for s in strings)


def problems(locale: str, template: Catalog | None = None) -> list[str]:
    """Everything wrong with a catalogue, one line each: not there, untranslated, fuzzy, bad placeholders."""
    template = template or extract()
    catalog = read_catalog(locale)
    found: list[str] = []
    for m in template:
        if not m.id:
            continue
        where = ", ".join(f"{f}:{n}" for f, n in m.locations[:2])
        t = catalog.get(m.id, m.context)
        if t is None:
            found.append(f"{where}: not in {locale}: {m.id!r}")
            continue
        if t.fuzzy:
            found.append(f"{where}: fuzzy in {locale}: {m.id!r}")
        strings = [s for s in _strings(t.string or "") if s.strip()]
        if not strings:
            found.append(f"{where}: untranslated in {locale}: {m.id!r}")
            continue
        expected = placeholders(_strings(m.id)[-1])
        for s in strings:
            if placeholders(s) != expected:
                found.append(f"{where}: placeholders differ in {locale}: {m.id!r} -> {s!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m complaints.i18n_tools", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    ext = sub.add_parser("extract", help="write the extracted messages as a .pot file")
    ext.add_argument("-o", "--output", default=str(TRANSLATIONS / f"{DOMAIN}.pot"))
    sub.add_parser("update", help="merge new and changed messages into the .po files")
    sub.add_parser("compile", help="compile the .po files into .mo files")
    sub.add_parser("check", help="list messages that are not translated (exit 1 if any)")
    sub.add_parser("missing", help="print the untranslated msgids, one per line (for translators)")
    sub.add_parser("all", help="update, compile and check (the default)")
    args = parser.parse_args(argv)
    command = args.command or "all"
    if command == "extract":
        buf = io.BytesIO()
        write_po(buf, extract(), width=100, omit_header=False)
        Path(args.output).write_bytes(buf.getvalue())
        print(f"Wrote {args.output}.")
        return 0
    if command == "missing":
        for locale in LOCALES:
            for m in missing(locale):
                print(repr(m.id))
        return 0
    template = extract()
    if command in ("update", "all"):
        for locale, n in update(template).items():
            print(f"{po_path(locale).relative_to(ROOT)}: {len(template)} messages, {n} to translate.")
    if command in ("compile", "all"):
        compile_catalogs()
        print("Compiled " + ", ".join(str(mo_path(lo).relative_to(ROOT)) for lo in LOCALES) + ".")
    if command in ("check", "all"):
        found = [p for locale in LOCALES for p in problems(locale, template)]
        for line in found:
            print(line)
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
