package console

import (
	"net/url"
	"strconv"
)

// pageSize is how many rows a paginated list shows.
const pageSize = 100

// pager is one page of a list and the links to its neighbours.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string // "" at either end
}

// paginate returns the page of n rows that the request's ?page= asks for
// (the first when absent or out of range): the slice bounds and the pager
// whose links keep the rest of q.
func paginate(base string, q url.Values, n int) (lo, hi int, p pager) {
	p.Total, p.Pages = n, max(1, (n+pageSize-1)/pageSize)
	p.Page, _ = strconv.Atoi(q.Get("page"))
	if p.Page < 1 || p.Page > p.Pages {
		p.Page = 1
	}
	link := func(page int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(page))
		return base + "?" + v.Encode()
	}
	if p.Page > 1 {
		p.Prev = link(p.Page - 1)
	}
	if p.Page < p.Pages {
		p.Next = link(p.Page + 1)
	}
	lo = (p.Page - 1) * pageSize
	return lo, min(n, lo+pageSize), p
}
