from courier.ledger.base import BaseLedger, ClaimStatus, LedgerRecord

__all__ = ["BaseLedger", "ClaimStatus", "LedgerRecord"]
