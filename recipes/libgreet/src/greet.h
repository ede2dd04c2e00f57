#ifndef GREET_H
#define GREET_H
/* Prints `words` and a newline; returns 0 on success. */
int greet(const char *words);
#endif
