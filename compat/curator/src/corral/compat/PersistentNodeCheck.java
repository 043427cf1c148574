package corral.compat;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

/**
 * (f) PersistentNode (EPHEMERAL) comes back after its session is killed. The session is killed
 * the standard way: a second ZooKeeper handle attaches with the same session id + password and
 * closes, which ends the session on the server.
 */
public final class PersistentNodeCheck {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        CuratorFramework admin = Check.client(connect);
        CuratorFramework owner = Check.client(connect);
        String base = Check.basePath("persistent");
        admin.create().creatingParentsIfNeeded().forPath(base);
        String path = base + "/node", plain = base + "/plain-ephemeral";
        byte[] data = "hello".getBytes(StandardCharsets.UTF_8);

        PersistentNode node = new PersistentNode(owner, CreateMode.EPHEMERAL, false, path, data);
        node.start();
        boolean created = node.waitForInitialCreate(15, TimeUnit.SECONDS);
        owner.create().withMode(CreateMode.EPHEMERAL).forPath(plain);
        ZooKeeper zk = owner.getZookeeperClient().getZooKeeper();
        long sid = zk.getSessionId();
        byte[] pwd = zk.getSessionPasswd();
        Stat st = admin.checkExists().forPath(path);
        Check.check("persistent.created", created && st != null && st.getEphemeralOwner() == sid,
                String.format("ephemeral owned by session 0x%x", sid));

        CountDownLatch attached = new CountDownLatch(1);
        ZooKeeper killer = new ZooKeeper(connect, 15_000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) attached.countDown();
        }, sid, pwd);
        boolean ok = attached.await(15, TimeUnit.SECONDS);
        Check.check("persistent.attach-same-session", ok && killer.getSessionId() == sid,
                "second handle attached to the same session id with its password");
        killer.close();

        boolean plainGone = Check.waitFor(20_000, () -> exists(admin, plain) == null);
        Check.check("persistent.killed-session-ephemerals-removed", plainGone,
                "a plain ephemeral of the killed session disappeared");
        boolean back = Check.waitFor(30_000, () -> {
            Stat s = exists(admin, path);
            return s != null && s.getEphemeralOwner() != sid
                    && s.getEphemeralOwner() == sessionOf(owner);
        });
        long newSid = sessionOf(owner);
        boolean sameData = back && new String(admin.getData().forPath(path), StandardCharsets.UTF_8).equals("hello");
        Check.check("persistent.recreated", back && sameData,
                String.format("node re-created by the new session 0x%x with its data", newSid));
        node.close();
        owner.close();
        Check.finish(admin, base);
    }

    static long sessionOf(CuratorFramework c) {
        try { return c.getZookeeperClient().getZooKeeper().getSessionId(); } catch (Exception e) { return -1; }
    }

    static Stat exists(CuratorFramework c, String p) {
        try { return c.checkExists().forPath(p); } catch (Exception e) { return null; }
    }
}
