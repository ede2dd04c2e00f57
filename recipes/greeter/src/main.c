#include "greet.h"

#ifndef WORDS
#error "WORDS must be defined"
#endif

int main(void)
{
    return greet(WORDS);
}
