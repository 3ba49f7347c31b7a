"""Length limits shared by the domain rules and the Block Kit builders."""

MIN_CHALLENGE = 15
MAX_CHALLENGE = 2500
MAX_FIELD = 1500
MAX_EXPERTISE = 2500
