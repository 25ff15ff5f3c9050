"""Flows: the stories that span domains, above them (web and the API's controllers call these;
a domain never calls a flow). reports: file a case, then alert the urgent chain. cases: take a
workflow action, award points, notify, merge."""
