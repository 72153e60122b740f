"""Spreadsheet exports: CSV that French Excel opens, XLSX, with no formula smuggled in a cell.

- `safe_cell`: every cell of every export goes through it. A cell starting like a formula
  (=, +, -, @, tab, carriage return) gets a quote first, so a spreadsheet shows it as text.
- Small exports are built in memory: `csv_response` (CSV), `xlsx_bytes` (a workbook written
  by xlsxwriter, strings always written as strings, never as formulas).
- Big exports are streamed: `csv_stream` and `xlsx_stream` are generators of bytes that
  take the rows one batch at a time (`in_batches`), so memory stays flat whatever their
  number; `safe_batch` checks a whole batch at once. `xlsx_stream` writes the workbook
  itself (a zip of a few XML files, the sheet written as the rows come, strings inline):
  xlsxwriter and openpyxl need about 45 s and 70 s for a million rows of nine columns
  here, this about 9 s with the database's share (bench/exports.py).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import chain, islice
from typing import Any

import xlsxwriter
from flask import Response

from campaign.core.text import FORMULA_PREFIXES

BOM = "\ufeff"
CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BATCH = 1000  # rows per chunk of a streamed export


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a quote first."""
    text = value if value.__class__ is str else "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text  # type: ignore[union-attr]


def csv_response(
    header: Sequence[str], rows: Iterable[Sequence[object]], filename: str
) -> Response:
    """`;` separator and a UTF-8 BOM: what Excel set to French expects."""
    return download(csv_text(header, rows), filename, CSV_MIMETYPE)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The whole CSV of `csv_response`, BOM first."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([safe_cell(v) for v in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue()


def download(body: Any, filename: str, mimetype: str) -> Response:
    """An attachment no cache keeps: `body` is bytes, text or an iterable of bytes."""
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


Batch = Sequence[Sequence[object]]


def in_batches(rows: Iterable[Sequence[object]], size: int = BATCH) -> Iterator[Batch]:
    """Rows grouped in lists of `size`, for csv_stream and xlsx_stream."""
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


assert all(len(prefix) == 1 for prefix in FORMULA_PREFIXES)  # nosec B101  # of a constant; tests run it
# A cell starting like a formula, in the cells of a batch joined by newlines.
_FORMULA_START = re.compile("(?:^|\n)[" + re.escape("".join(FORMULA_PREFIXES)) + "]")


def safe_batch(batch: Batch) -> Batch:
    """Every cell of the batch through safe_cell. The hot path of the big exports: when
    every cell is a string and none starts like a formula (one search over the batch
    joined by newlines; a false alarm only costs time), the batch is returned as it is."""
    try:
        joined = "\n".join(chain.from_iterable(batch))  # type: ignore[arg-type]
    except TypeError:  # None, numbers, dates: cell by cell
        return [[safe_cell(v) for v in row] for row in batch]
    if _FORMULA_START.search(joined) is None:
        return batch
    return [[safe_cell(v) for v in row] for row in batch]


def csv_stream(header: Sequence[str], batches: Iterable[Batch]) -> Iterator[bytes]:
    """The CSV of `csv_response` as chunks of bytes, one per batch of rows."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    out.write(BOM)
    writer.writerow([safe_cell(v) for v in header])
    for batch in batches:
        writer.writerows(safe_batch(batch))
        yield out.getvalue().encode("utf-8", "replace")
        out.seek(0)
        out.truncate()
    if out.tell():  # no rows: the header alone
        yield out.getvalue().encode("utf-8", "replace")


# --- XLSX, small: xlsxwriter in memory -----------------------------------------------------


def xlsx_bytes(
    sheet: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    widths: Sequence[float] = (),
) -> bytes:
    """A one-sheet workbook: a bold header, then the rows. Numbers and dates keep their
    type; everything else is written as a string (through safe_cell), never as a formula."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    bold = book.add_format({"bold": True})
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    moment = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    ws = book.add_worksheet(sheet_name(sheet))
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)
    for col, title in enumerate(header):
        ws.write_string(0, col, safe_cell(title), bold)
    ws.freeze_panes(1, 0)
    for r, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if isinstance(value, bool):
                ws.write_string(r, col, safe_cell("oui" if value else "non"))
            elif isinstance(value, int | float):
                ws.write_number(r, col, value)
            elif isinstance(value, datetime):
                ws.write_datetime(r, col, value.replace(tzinfo=None), moment)
            elif isinstance(value, date):
                ws.write_datetime(r, col, value, day)
            else:
                ws.write_string(r, col, safe_cell(value))
    book.close()
    return out.getvalue()


_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def sheet_name(name: str) -> str:
    """What Excel accepts as a sheet's name: 31 characters, none of []:*?/\\."""
    return _SHEET_FORBIDDEN.sub(" ", name).strip("'")[:31] or "Feuille"


# --- XLSX, big: streamed -------------------------------------------------------------------

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES = (
    _DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    _DECL + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    _DECL + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_STYLES = (
    _DECL + f'<styleSheet xmlns="{_NS}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    "</cellStyleXfs>"
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
# What XML cannot hold as it is: markup, control characters (written as Excel does,
# _xHHHH_; \r too, which XML would turn into \n), and an « _x » that would read as one.
_XML_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_XML_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _xml_escape_match(match: re.Match[str]) -> str:
    ch = match.group()
    return _XML_NAMED.get(ch) or f"_x{ord(ch):04X}_"


def xml_text(text: str) -> str:
    """`text` as the content of an XLSX <t> element."""
    return _XML_SPECIAL.sub(_xml_escape_match, text)


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class _Sink(io.RawIOBase):
    """Where the zip writes: bytes kept until the generator hands them out."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def xlsx_stream(
    sheet: str,
    header: Sequence[str],
    batches: Iterable[Batch],
    widths: Sequence[float] = (),
    zip64: bool = False,
) -> Iterator[bytes]:
    """A one-sheet workbook as chunks of bytes, one per batch of rows: a bold header
    frozen at the top, then every cell a string (through safe_cell), never a formula.

    The zip is written with data descriptors (sizes after the data), as a stream needs.
    Without `zip64`, the sheet's XML must stay under 4 GiB (about 4 million rows of
    signatories): the caller knows the count and asks for it beyond that.
    """
    sink = _Sink()
    book = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
    for name, text in (
        ("[Content_Types].xml", _CONTENT_TYPES),
        ("_rels/.rels", _ROOT_RELS),
        (
            "xl/workbook.xml",
            _DECL + f'<workbook xmlns="{_NS}" xmlns:r="{_REL}"><sheets>'
            f'<sheet name="{xml_text(sheet_name(sheet)).replace(chr(34), "&quot;")}" '
            'sheetId="1" r:id="rId1"/></sheets></workbook>',
        ),
        ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
        ("xl/styles.xml", _STYLES),
    ):
        book.writestr(name, text)
    yield sink.take()

    letters = [column_letter(i) for i in range(len(header))]
    ncols = len(header)
    text = '<is><t xml:space="preserve">{}</t></is></c>'
    # Cells without a reference (optional in SpreadsheetML: they fill the row in order),
    # so a row is one join, not a template filled in.
    cell_open = '<c t="inlineStr"><is><t xml:space="preserve">'
    cell_close = "</t></is></c>"
    between = cell_close + cell_open
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{w:g}" customWidth="1"/>'
        for i, w in enumerate(widths, start=1)
    )
    head = (
        _DECL + f'<worksheet xmlns="{_NS}" xmlns:r="{_REL}">'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{cols}</cols>" if cols else "")
        + '<sheetData><row r="1">'
        + "".join(
            f'<c r="{letter}1" t="inlineStr" s="1">' + text.format(xml_text(safe_cell(title)))
            for letter, title in zip(letters, header, strict=True)
        )
        + "</row>"
    )
    with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=zip64) as part:
        part.write(head.encode())
        n = 1
        for batch in batches:
            cells = safe_batch(batch)
            # Escaping is rare (an « & » in an organisation's name): look for it in the
            # whole batch joined by newlines, then escape it whole and split it again,
            # or cell by cell when a cell holds a newline itself.
            joined = "\n".join(chain.from_iterable(cells))  # type: ignore[arg-type]
            if _XML_SPECIAL.search(joined):
                if joined.count("\n") == len(cells) * ncols - 1:
                    flat = xml_text(joined).split("\n")
                    cells = [flat[i : i + ncols] for i in range(0, len(flat), ncols)]
                else:
                    cells = [[xml_text(v) for v in row] for row in cells]  # type: ignore[arg-type]
            part.write(
                "".join(
                    [
                        f'<row r="{r}">{cell_open}{between.join(row)}{cell_close}</row>'  # type: ignore[arg-type]
                        for r, row in enumerate(cells, start=n + 1)
                    ]
                ).encode("utf-8", "replace")
            )
            n += len(cells)
            yield sink.take()
        part.write(b"</sheetData></worksheet>")
    book.close()
    yield sink.take()
