"""CSV and XLSX exports of the scorecards and the year-end evaluation, with Chinese headers.

CSV is UTF-8 with a byte-order mark so Excel opens it as UTF-8; rates are written as
percentages ("95.24%", which Excel reads as numbers). XLSX keeps rates as fractions formatted
``0.00%``. Text cells that a spreadsheet would run as a formula are defused with a leading
apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.styles import Font

from scoring_service.evaluation import schemas

__all__ = [
    "CSV_MEDIA_TYPE",
    "XLSX_MEDIA_TYPE",
    "ExportFile",
    "annual_file",
    "content_disposition",
    "scorecards_file",
]

ExportFormat = Literal["csv", "xlsx"]
CellKind = Literal["text", "int", "number", "rate"]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    header: str
    kind: CellKind
    value: Callable[[Any], Any]


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    media_type: str
    filename: str  # ASCII fallback
    filename_zh: str

    @property
    def content_disposition(self) -> str:
        return content_disposition(self.filename, self.filename_zh)


def content_disposition(ascii_name: str, name: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the real name per RFC 5987/6266."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


SCORECARD_COLUMNS: list[Column] = [
    Column("单位编码", "text", lambda c: c.unit_code),
    Column("单位名称", "text", lambda c: c.unit_name),
    Column("单位类别", "text", lambda c: c.unit_kind.label_zh),
    Column("派单数", "int", lambda c: c.dispatched),
    Column("按时签收数", "int", lambda c: c.sign_on_time.numerator),
    Column("按时签收率", "rate", lambda c: c.sign_on_time.rate),
    Column("响应率", "rate", lambda c: c.response.rate),
    Column("应办结数", "int", lambda c: c.due_in_period),
    Column("按时办结数", "int", lambda c: c.completion_on_time.numerator),
    Column("按时办结率", "rate", lambda c: c.completion_on_time.rate),
    Column("代办事项应办结数", "int", lambda c: c.agency_due_in_period),
    Column("代办事项按时办结数", "int", lambda c: c.agency_on_time.numerator),
    Column("办件按时率(代办事项)", "rate", lambda c: c.agency_on_time.rate),
    Column("回访数", "int", lambda c: c.satisfaction.denominator),
    Column("解决率", "rate", lambda c: c.resolution.rate),
    Column("满意数", "int", lambda c: c.satisfaction.satisfied),
    Column("基本满意数", "int", lambda c: c.satisfaction.basic),
    Column("不满意数", "int", lambda c: c.satisfaction.unsatisfied),
    Column("满意率", "rate", lambda c: c.satisfaction.rate),
    Column("办结数", "int", lambda c: c.completed),
    Column("发回重办数", "int", lambda c: c.redo.numerator),
    Column("发回重办率", "rate", lambda c: c.redo.rate),
    Column("回退数", "int", lambda c: c.returned.numerator),
    Column("回退率", "rate", lambda c: c.returned.rate),
    Column("平均办结工作日", "number", lambda c: c.average_working_days),
    Column("超期件数", "int", lambda c: c.overdue),
    Column("红牌督办数", "int", lambda c: c.supervision.red),
    Column("挂牌督办数", "int", lambda c: c.supervision.listed),
    Column("提级督办数", "int", lambda c: c.supervision.escalated),
    Column("扣分", "number", lambda c: c.deductions),
    Column("得分", "number", lambda c: c.score),
    Column("排名", "int", lambda c: c.rank),
]


def _annual_columns() -> list[Column]:
    def month_score(index: int) -> Callable[[Any], Any]:
        return lambda e: e.months[index].score

    return [
        Column("单位编码", "text", lambda e: e.unit_code),
        Column("单位名称", "text", lambda e: e.unit_name),
        Column("单位类别", "text", lambda e: e.unit_kind.label_zh),
        *(Column(f"{i + 1}月得分", "number", month_score(i)) for i in range(12)),
        Column("计分月数", "int", lambda e: e.months_scored),
        Column("年终综合考评得分", "number", lambda e: e.score),
        Column("排名", "int", lambda e: e.rank),
    ]


ANNUAL_COLUMNS = _annual_columns()


def _defuse(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _csv_cell(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == "rate":
        return f"{value * 100:.2f}%"
    if column.kind == "text":
        return _defuse(str(value))
    return str(value)


def _csv(columns: Sequence[Column], rows: Sequence[Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.header for column in columns])
    for row in rows:
        writer.writerow([_csv_cell(column, column.value(row)) for column in columns])
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx(title: str, columns: Sequence[Column], rows: Sequence[Any]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append([column.header for column in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        values = []
        for column in columns:
            value = column.value(row)
            values.append(
                _defuse(value) if column.kind == "text" and isinstance(value, str) else value
            )
        sheet.append(values)
    for index, column in enumerate(columns, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = 28 if column.header == "单位名称" else 14
        if column.kind == "rate":
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "0.00%"
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _file(
    fmt: ExportFormat,
    stem: str,
    stem_zh: str,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Any],
) -> ExportFile:
    if fmt == "csv":
        return ExportFile(_csv(columns, rows), CSV_MEDIA_TYPE, f"{stem}.csv", f"{stem_zh}.csv")
    return ExportFile(
        _xlsx(title, columns, rows), XLSX_MEDIA_TYPE, f"{stem}.xlsx", f"{stem_zh}.xlsx"
    )


def scorecards_file(result: schemas.ScorecardList, fmt: ExportFormat) -> ExportFile:
    suffix = f"-{result.unit_kind.value}" if result.unit_kind else ""
    suffix_zh = f"-{result.unit_kind.label_zh}" if result.unit_kind else ""
    return _file(
        fmt,
        f"scorecards-{result.month}{suffix}",
        f"月度考核成绩-{result.month}{suffix_zh}",
        f"{result.month}考核成绩",
        SCORECARD_COLUMNS,
        result.units,
    )


def annual_file(result: schemas.AnnualList, fmt: ExportFormat) -> ExportFile:
    suffix = f"-{result.unit_kind.value}" if result.unit_kind else ""
    suffix_zh = f"-{result.unit_kind.label_zh}" if result.unit_kind else ""
    return _file(
        fmt,
        f"annual-evaluation-{result.year}{suffix}",
        f"年终综合考评-{result.year}{suffix_zh}",
        f"{result.year}年终综合考评",
        ANNUAL_COLUMNS,
        result.units,
    )
