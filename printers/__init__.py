"""Receipts for 58 mm / 80 mm thermal printers.

    printers.receipt    Receipt, Slip and friends (plain data, stdlib only)
    printers.layout     layout(receipt, width) / layout_slip(slip, width) -> list[Op]
    printers.preview    preview(ops, width) -> str
    printers.transport  print_receipt(cfg, receipt) / print_ops(cfg, ops) -> PrintResult

Deliberately imports nothing: python-escpos costs ~350 ms to import, so only
printers.transport loads it, on the first print.
"""
