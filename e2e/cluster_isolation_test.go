package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// clusterSiteOnDB is a site with `cluster` on database db of the Redis at
// redisAddr, under name (none: the default name).
func clusterSiteOnDB(upstream, redisAddr string, db int, name string) string {
	named := ""
	if name != "" {
		named = "\n\t\tcluster_name " + name
	}
	return fmt.Sprintf(`:{PORT} {
	recordsync {
		name shop
		updated_by_id data.updated_by
		updated_by_name data.updated_by_name
		record flow /api/v1/flows/{id}
		app_id %s
		app_key %s
		app_secret %s
		ws_path /ws
		cluster redis://%s/%d%s
	}
	reverse_proxy %s
}
`, testAppID, testAppKey, testAppSecret, redisAddr, db, named, upstream)
}

// TestClusterDatabasesDoNotShare: three Caddy processes on one
// redis-server, with the same configuration (name shop, the same
// app_secret) but for the database: production is on /0 with the default
// cluster name, staging on /1 with the default name, and a third on /1
// whose cluster name is set to production's default ("shop-db0"). Redis
// pub/sub ignores the database number, so before the default name carried
// it, production and staging were one cluster ("shop"): staging's
// subscribers got production's saves. Now staging hears nothing of
// production, and the third, which shares production's channel, refuses its
// messages (the key is derived with the database number) and counts them.
func TestClusterDatabasesDoNotShare(t *testing.T) {
	// Mostly waiting (three Caddies starting, heartbeats, quiet periods):
	// runs beside the other waiting tests.
	t.Parallel()
	redisAddr, _, _ := startRedis(t)
	app := startFakeApp(t, testAppKey, testAppSecret)
	prod := startCaddy(t, clusterSiteOnDB(app.Addr(), redisAddr, 0, ""))
	staging := startCaddy(t, clusterSiteOnDB(app.Addr(), redisAddr, 1, ""))
	sameName := startCaddy(t, clusterSiteOnDB(app.Addr(), redisAddr, 1, "shop-db0"))
	for _, c := range []*caddyProc{prod, staging, sameName} {
		clusterUp(t, c)
	}

	subs := map[string]*wsClient{"production": dialPusher(t, clusterWS(prod)), "staging": dialPusher(t, clusterWS(staging)),
		"same name on /1": dialPusher(t, clusterWS(sameName))}
	for name, s := range subs {
		if f := s.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscribe on %s: %+v", name, f)
		}
	}
	clusterPut(t, prod, `{"name":"from production"}`, "PUT through production")
	if f := subs["production"].read(5 * time.Second); f.Event != "record.updated" {
		t.Fatalf("production's subscriber got %+v, want record.updated", f)
	}
	// Production's heartbeats (every 2 s) and save have had time to arrive.
	time.Sleep(2500 * time.Millisecond)
	clusterQuiet(t, subs["staging"], "staging's subscriber got production's save")
	clusterQuiet(t, subs["same name on /1"], "a subscriber on /1 got production's save")

	m := drillMetrics(t, staging)
	for k, v := range m {
		if strings.HasPrefix(k, `recordsync_cluster_messages_total{direction="in"`) && v > 0 {
			t.Errorf("staging heard another instance: %s %v", k, v)
		}
		if strings.HasPrefix(k, "recordsync_cluster_dropped_total") && v > 0 {
			t.Errorf("staging refused messages (it should not even see production's): %s %v", k, v)
		}
	}
	const unauth = `recordsync_cluster_dropped_total{reason="unauthenticated",source="bus"}`
	if v, ok := drillWaitMetric(t, sameName, unauth, 5*time.Second, func(v float64) bool { return v > 0 }); !ok {
		t.Errorf("the instance on /1 named like production counted %v unauthenticated messages, want production's", v)
	}
	if v := drillMetrics(t, sameName)[`recordsync_cluster_messages_total{direction="in",kind="saved"}`]; v != 0 {
		t.Errorf("the instance on /1 named like production took %v of its saves", v)
	}
	if !strings.Contains(sameName.Log(), "without this cluster's signature") {
		t.Errorf("no warning about the refused messages in the log:\n%s", sameName.Log())
	}
}
