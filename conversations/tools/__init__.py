"""Server-side tools the model may call in a reply (issue 13): the registry and its tools."""
