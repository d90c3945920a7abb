"""The seed-002 room and data the web app's browser tests share: the bank's and the insurer's
customer CSVs (each e-mail carries a unique marker, to look for on the server's disk), the room
template, and the overlap's true answers."""

from __future__ import annotations

import secrets

from tests.integration.conftest import ANALYST, BANK, INSURER

MARKER = "zq" + secrets.token_hex(6)
BANK_ROWS = range(0, 300)
INSURER_ROWS = range(200, 450)
OVERLAP = len(set(BANK_ROWS) & set(INSURER_ROWS))  # 100

TEMPLATE = {
    "format": "sealroom/room-definition",
    "version": 2,
    "name": "Confidential computing overlap",
    "description": "The overlap of a bank's and an insurance provider's customers",
    "interactive": True,
    "nodes": [
        {
            "kind": "table",
            "name": "bank_customers",
            "is_required": True,
            "columns": [
                {"name": "email", "format_type": "EMAIL", "is_nullable": False},
                {"name": "age", "format_type": "INTEGER"},
                {"name": "product", "format_type": "STRING"},
            ],
            "unique_column_combinations": [[0]],
        },
        {
            "kind": "table",
            "name": "insurer_customers",
            "is_required": True,
            "columns": [
                {"name": "email", "format_type": "EMAIL", "is_nullable": False},
                {"name": "product", "format_type": "STRING"},
            ],
            "unique_column_combinations": [[0]],
        },
        {
            "kind": "sql",
            "name": "overlap",
            "query": "SELECT COUNT(*) AS overlapping_customers FROM bank_customers b "
            "JOIN insurer_customers i ON b.email = i.email",
            "dependencies": ["bank_customers", "insurer_customers"],
            "minimum_rows_count": 10,
        },
    ],
    "participants": [
        {"email": BANK, "data_owner_of": ["bank_customers"]},
        {"email": INSURER, "data_owner_of": ["insurer_customers"]},
        {"email": ANALYST, "analyst_of": ["overlap"]},
    ],
}


BY_PRODUCT_SQL = (
    "SELECT i.product AS insurance_product, COUNT(*) AS customers FROM bank_customers b "
    "JOIN insurer_customers i ON b.email = i.email GROUP BY i.product"
)
BY_PRODUCT = {
    product: sum(
        1 for i in set(BANK_ROWS) & set(INSURER_ROWS) if ["home", "car", "life"][i % 3] == product
    )
    for product in ("home", "car", "life")
}


def customer(index: int) -> str:
    return f"customer{index}.{MARKER}@example.org"


def bank_csv() -> str:
    # A header row with the columns in another order than the table's: the wizard maps them.
    lines = ["Product,Email,Age"]
    lines += [f"{['loan', 'card'][i % 2]},{customer(i)},{20 + i % 50}" for i in BANK_ROWS]
    return "\r\n".join(lines) + "\r\n"


def insurer_csv() -> str:
    # Semicolons, as a spreadsheet in many countries writes them, and a header.
    lines = ["email;product"]
    lines += [f"{customer(i)};{['home', 'car', 'life'][i % 3]}" for i in INSURER_ROWS]
    return "\n".join(lines) + "\n"


#: Customers in both tables, by the insurer's product (index % 3, as insurer_csv writes it).
SHARED = set(BANK_ROWS) & set(INSURER_ROWS)
BY_PRODUCT = {
    p: sum(["home", "car", "life"][i % 3] == p for i in SHARED) for p in ("home", "car", "life")
}
BY_PRODUCT_SQL = (
    "SELECT i.product, COUNT(*) AS customers\n"
    "FROM bank_customers b JOIN insurer_customers i ON b.email = i.email\n"
    "GROUP BY i.product ORDER BY i.product"
)
