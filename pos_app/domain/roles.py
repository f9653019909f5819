"""Staff roles and what each may approve."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CASHIER = "cashier"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    HQ_ADMIN = "hq_admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def can_approve(self) -> bool:
        """Supervisors and above approve discounts over the limit, voids, overrides."""
        return self.rank >= _RANK[Role.SUPERVISOR]

    def can_configure(self) -> bool:
        """Store managers and above change the terminal's devices and settings."""
        return self.rank >= _RANK[Role.MANAGER]


_RANK = {Role.CASHIER: 0, Role.SUPERVISOR: 1, Role.MANAGER: 2, Role.HQ_ADMIN: 3}
