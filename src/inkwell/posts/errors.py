from inkwell.auth.errors import TooManyFailures
from inkwell.errors import Forbidden, NotFound


class PostNotFound(NotFound):
    detail = "Post not found"


class NotYourPost(Forbidden):
    detail = "Only the post's author or an admin may do this"


class TooManySearches(TooManyFailures):
    detail = "Too many searches from this address; try again later"
