package awssim

// minHeap is a container/heap of timers, least first by their own order. Pop zeroes the slot it
// vacates, so a popped entry's pointers do not outlive it in the backing array.
type minHeap[T interface{ less(T) bool }] []T

func (q minHeap[T]) Len() int           { return len(q) }
func (q minHeap[T]) Less(i, j int) bool { return q[i].less(q[j]) }
func (q minHeap[T]) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *minHeap[T]) Push(x any)        { *q = append(*q, x.(T)) }
func (q *minHeap[T]) Pop() any {
	old := *q
	e := old[len(old)-1]
	var zero T
	old[len(old)-1] = zero
	*q = old[:len(old)-1]
	return e
}
