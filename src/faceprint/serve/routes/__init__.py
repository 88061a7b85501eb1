"""The service's routes, one router per area: faces (detect, analyze, embed, verify,
identify), the gallery (identities, enrolment, removal) and admin (health, metrics, the page)."""
