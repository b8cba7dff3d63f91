"""Stage 2, the items: orderings of steps (``orderings``), the shared item types (``spec``), the ITS
and ETS item builders (``its``, ``ets``), the table of perturbations and categories
(``categories``) and the row schema of the dataset (``schema``)."""
