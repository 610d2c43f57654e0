package importer

import "fmt"

// kaNode is one keepalived statement: a keyword, its arguments on the same
// line, and the statements of its block when it has one.
type kaNode struct {
	key   string
	args  []string
	kids  []*kaNode
	block bool
	pos   pos
}

// arg returns the i-th argument or "".
func (n *kaNode) arg(i int) string {
	if i < len(n.args) {
		return n.args[i]
	}
	return ""
}

// maxBlockDepth bounds nesting; real configs nest four deep.
const maxBlockDepth = 32

// parseKeepalived builds the statement tree. A block may open on the
// keyword's line or on the next one, and statements may follow "{" on the
// same line, as keepalived allows.
func parseKeepalived(lines []kaLine) ([]*kaNode, error) {
	root := &kaNode{block: true}
	stack := []*kaNode{root}
	for _, line := range lines {
		var cur *kaNode
		for _, t := range line {
			top := stack[len(stack)-1]
			switch {
			case t.text == "{" && !t.quoted:
				opener := cur
				if opener == nil && len(top.kids) > 0 && !top.kids[len(top.kids)-1].block {
					opener = top.kids[len(top.kids)-1] // "{" on the line after its keyword
				}
				if opener == nil || opener.block {
					return nil, fmt.Errorf("%s:%d: \"{\" without a keyword before it", t.pos.File, t.pos.Line)
				}
				if len(stack) > maxBlockDepth {
					return nil, fmt.Errorf("%s:%d: blocks nested more than %d deep", t.pos.File, t.pos.Line, maxBlockDepth)
				}
				opener.block = true
				stack = append(stack, opener)
				cur = nil
			case t.text == "}" && !t.quoted:
				if len(stack) == 1 {
					return nil, fmt.Errorf("%s:%d: \"}\" closes no block", t.pos.File, t.pos.Line)
				}
				stack = stack[:len(stack)-1]
				cur = nil
			case cur == nil:
				cur = &kaNode{key: t.text, pos: t.pos}
				top.kids = append(top.kids, cur)
			default:
				cur.args = append(cur.args, t.text)
			}
		}
	}
	if len(stack) > 1 {
		open := stack[len(stack)-1]
		return nil, fmt.Errorf("%s:%d: the block of %q is not closed (missing \"}\")", open.pos.File, open.pos.Line, open.key)
	}
	return root.kids, nil
}
