"""A minimal Django project using ``manhattan.integrations.django``.

Run it with ``python examples/django_app/manage.py runserver`` (see manage.py).
"""
