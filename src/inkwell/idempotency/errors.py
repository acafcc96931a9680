from inkwell.errors import Conflict, Unprocessable


class KeyReused(Unprocessable):
    detail = "This Idempotency-Key was used for a different request"


class KeyInUse(Conflict):
    detail = "A request with this Idempotency-Key is in progress; retry shortly"
