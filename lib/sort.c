/* Sorting for reports. */
#include "lib.h"

/* Shell sort (Ciura's gaps): a few thousand samples, no recursion, no allocation. */
void sort_u64(u64 *a, u64 n)
{
	static const u64 gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };

	for (size_t g = 0; g < ARRAY_SIZE(gaps); g++)
		for (u64 i = gaps[g]; i < n; i++) {
			u64 x = a[i], j = i;

			for (; j >= gaps[g] && a[j - gaps[g]] > x; j -= gaps[g])
				a[j] = a[j - gaps[g]];
			a[j] = x;
		}
}
