from poundcake.action import PoundCakeAction
from poundcake.queries import QueryError, get_request


class GetRequest(PoundCakeAction):
    def run(self, request_id):
        try:
            return True, get_request(self.store(), request_id)
        except QueryError as exc:
            return self.fail(str(exc))
