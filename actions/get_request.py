from poundcake.action import PoundCakeAction, Result
from poundcake.queries import get_request


class GetRequest(PoundCakeAction):
    def run(self, request_id: str) -> Result:
        return self.attempt(get_request, self.store(), request_id, self.retention())
