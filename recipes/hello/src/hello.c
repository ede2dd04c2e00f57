/* The smallest useful program: what forge's README builds first. */
#include <stdio.h>

int main(void)
{
    puts("Hello, world!");
    return 0;
}
