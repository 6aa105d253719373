"""Helpers for event processing tests: shop set-up and shop-scoped reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, select

from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.models import Base, Shop
from plugin.runtime import Runtime
from plugin.shopify.tokens import TokenCipher
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP

M = TypeVar("M", bound=Base)


async def give_token(runtime: Runtime, shopify: FakeShopify, domain: str = SHOP) -> None:
    """The shop holds a working offline token, as after token exchange."""
    cipher = TokenCipher(runtime.settings.token_encryption_key)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, await ensure_shop(tx.session, domain))
        assert shop is not None
        shop.access_token_enc = cipher.encrypt(shopify.grant_token(domain))


async def forget_shop(runtime: Runtime) -> None:
    """Delete the shops and with them every row the test wrote (ON DELETE CASCADE)."""
    async with runtime.engine.begin() as conn:
        await conn.execute(delete(Shop))


async def shop_of(runtime: Runtime, domain: str = SHOP) -> Shop:
    async with runtime.sessionmaker() as session:
        shop = (await session.execute(select(Shop).where(Shop.domain == domain))).scalar_one()
        return shop


async def rows(
    runtime: Runtime, model: type[M], *where: ColumnElement[bool], domain: str = SHOP
) -> list[M]:
    """The shop's rows of `model` matching `where`, in primary key order."""
    shop = await shop_of(runtime, domain)
    table: Any = model.__table__
    async with runtime.sessionmaker() as session:
        result = await session.execute(
            select(model)
            .where(table.c.shop_id == shop.id, *where)
            .order_by(*table.primary_key.columns)
        )
        return list(result.scalars())


async def one(
    runtime: Runtime, model: type[M], *where: ColumnElement[bool], domain: str = SHOP
) -> M:
    found = await rows(runtime, model, *where, domain=domain)
    assert len(found) == 1, f"expected one {model.__name__}, found {len(found)}"
    return found[0]


@dataclass
class HookCalls:
    """Calls the domain made to plugin.surveys.hooks, in order: (hook, key, at)."""

    calls: list[tuple[str, Any, datetime]] = field(default_factory=list)

    def of(self, hook: str) -> list[tuple[Any, datetime]]:
        return [(key, at) for name, key, at in self.calls if name == hook]
