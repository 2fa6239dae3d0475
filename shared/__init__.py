"""Contracts shared by the Yingshang services: schemas, enums, errors and pure domain logic.

Nothing in this package touches a database, Redis or the network.
"""
