"""The file formats of users' export and import, which `inkwell users export` and `import` offer."""

from enum import StrEnum


class FileFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
