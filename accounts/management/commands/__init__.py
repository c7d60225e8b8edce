"""`manage.py set_quota` and `manage.py usage_report`: a contract scripts rely on."""
