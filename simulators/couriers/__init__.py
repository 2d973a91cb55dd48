"""Local fakes of Pakistani couriers' merchant APIs (Leopards, PostEx), with faults.

Built from the couriers' public documentation (see docs/couriers.md for what is documented and
what is guessed). Like the other simulators this package never imports product code.
"""
