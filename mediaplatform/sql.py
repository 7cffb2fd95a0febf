"""Names for hand-written SQL, taken from the models: a renamed table or column changes the SQL with it."""

from django.db import connection, models


def sql_table(model: type[models.Model]) -> str:
    """The model's table, quoted."""
    return connection.ops.quote_name(model._meta.db_table)


def sql_column(model: type[models.Model], field_name: str) -> str:
    """The column of the model's field (a foreign key's `<name>_id` column for its name), quoted."""
    return connection.ops.quote_name(model._meta.get_field(field_name).column)
