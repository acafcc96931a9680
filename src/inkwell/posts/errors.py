from inkwell.errors import NotFound


class PostNotFound(NotFound):
    detail = "Post not found"
