/** Discord's bounds on autocomplete: 25 choices, names and values of 1–100 characters. */
export const AUTOCOMPLETE_MAX_CHOICES = 25;
export const AUTOCOMPLETE_TEXT_MAX = 100;
