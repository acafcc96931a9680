from inkwell.errors import Conflict, NotFound


class UserNotFound(NotFound):
    detail = "User not found"


class EmailTaken(Conflict):
    detail = "Email already registered"
