// Package lvs will program kernel IPVS for services with mode: lvs: a pure
// diff of desired against actual state and a thin apply step, re-run on
// every change and on a slow timer. Until it exists, `vigil run` refuses
// configs that declare services rather than run half of them.
package lvs
