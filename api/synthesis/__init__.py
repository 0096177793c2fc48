"""The synthesis engines' languages and voices, as the API lists them and checks requests against them."""
