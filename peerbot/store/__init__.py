"""Persistence: SQLAlchemy models, engines and sessions, migrations.

Repositories take a :class:`~sqlalchemy.orm.Session` and never commit; the caller owns the unit of
work (:func:`peerbot.store.db.unit_of_work`).
"""
