// Package testmanifests holds small manifests several packages' tests
// build scenarios from.
package testmanifests

// IstioServices are the stable and canary Services of a Rollout named demo
// and the VirtualService whose "primary" route the Rollout weighs.
const IstioServices = `apiVersion: v1
kind: Service
metadata: {name: demo-stable}
---
apiVersion: v1
kind: Service
metadata: {name: demo-canary}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: demo}
spec:
  http:
    - name: primary
      route:
        - destination: {host: demo-stable}
          weight: 100
        - destination: {host: demo-canary}
          weight: 0
`
