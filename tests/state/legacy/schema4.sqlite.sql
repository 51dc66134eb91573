-- A state store made by kleansync before Alembic (schema_info 4); see make_legacy_store.py.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_info (
	id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO schema_info VALUES(1,4);
CREATE TABLE link (
	id INTEGER NOT NULL, 
	entity VARCHAR NOT NULL, 
	"key" VARCHAR NOT NULL, 
	kleanapp_id VARCHAR NOT NULL, 
	sevdesk_id VARCHAR NOT NULL, 
	base JSON, 
	kleanapp_raw JSON, 
	sevdesk_raw JSON, 
	kleanapp_version VARCHAR, 
	sevdesk_version VARCHAR, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (entity, kleanapp_id), 
	UNIQUE (entity, sevdesk_id)
);
INSERT INTO link VALUES(1,'customer','K-10001','101','9001','{"customer_number": "K-10001", "company_name": "Glanz & Gloria GmbH", "city": "Berlin"}','{"company_name": "ab12"}','{"company_name": "cd34"}','2026-11-30T21:00:00Z','2026-11-30T21:00:01Z','2026-12-02 06:02:48.200665','2026-12-02 06:02:48.201065');
CREATE TABLE cursor (
	id INTEGER NOT NULL, 
	side VARCHAR NOT NULL, 
	entity VARCHAR NOT NULL, 
	value DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (side, entity)
);
INSERT INTO cursor VALUES(1,'kleanapp','customer','2026-11-30 22:00:00.000000');
INSERT INTO cursor VALUES(2,'sevdesk','customer','2026-11-30 22:00:00.000000');
CREATE TABLE run (
	id VARCHAR NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	"trigger" VARCHAR NOT NULL, 
	dry_run BOOLEAN NOT NULL, 
	"full" BOOLEAN NOT NULL, 
	options JSON, 
	counts JSON, 
	outcome VARCHAR NOT NULL, 
	error VARCHAR, 
	pid INTEGER, 
	result JSON, 
	PRIMARY KEY (id)
);
INSERT INTO run VALUES('run000000001','2026-11-30 22:00:00.000000','2026-12-02 06:02:48.177368','schedule',0,0,'{}','{"customer.sevdesk.update": 1}','ok',NULL,4242,'{"counts": {"customer.sevdesk.update": 1}}');
CREATE TABLE journal (
	id INTEGER NOT NULL, 
	run_id VARCHAR NOT NULL, 
	action_id VARCHAR NOT NULL, 
	entity VARCHAR NOT NULL, 
	side VARCHAR NOT NULL, 
	op VARCHAR NOT NULL, 
	"key" VARCHAR NOT NULL, 
	target_id VARCHAR, 
	payload JSON, 
	expected_version VARCHAR, 
	state VARCHAR NOT NULL, 
	result_id VARCHAR, 
	error VARCHAR, 
	created_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	PRIMARY KEY (id)
);
INSERT INTO journal VALUES(1,'run000000001','customer:K-10001:sevdesk:update','customer','sevdesk','update','K-10001','9001','{"company_name": "Glanz & Gloria GmbH"}',NULL,'done','9001',NULL,'2026-12-02 06:02:48.340603','2026-12-02 06:02:48.414291');
CREATE TABLE IF NOT EXISTS "conflict" (
	id INTEGER NOT NULL, 
	run_id VARCHAR NOT NULL, 
	entity VARCHAR NOT NULL, 
	link_id INTEGER, 
	"key" VARCHAR NOT NULL, 
	field VARCHAR NOT NULL, 
	base JSON, 
	kleanapp JSON, 
	sevdesk JSON, 
	rule VARCHAR NOT NULL, 
	decision VARCHAR NOT NULL, 
	reason VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	resolution JSON, 
	resolved_by VARCHAR, 
	resolved_at DATETIME, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "conflict" VALUES(1,'run000000001','customer',1,'K-10001','email','"a@b.de"','"c@b.de"','"d@b.de"','manual','manual','','open','null',NULL,NULL,'2026-12-02 06:02:48.436671');
CREATE TABLE parked (
	id INTEGER NOT NULL, 
	run_id VARCHAR NOT NULL, 
	entity VARCHAR NOT NULL, 
	side VARCHAR NOT NULL, 
	record_id VARCHAR NOT NULL, 
	"key" VARCHAR NOT NULL, 
	reason VARCHAR NOT NULL, 
	candidates JSON, 
	status VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE quarantine (
	id INTEGER NOT NULL, 
	run_id VARCHAR NOT NULL, 
	side VARCHAR NOT NULL, 
	entity VARCHAR NOT NULL, 
	record_id VARCHAR, 
	reason VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE run_lock (
	name VARCHAR NOT NULL, 
	holder VARCHAR NOT NULL, 
	pid INTEGER NOT NULL, 
	token INTEGER NOT NULL, 
	since DATETIME NOT NULL, 
	heartbeat DATETIME NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO run_lock VALUES('sync','released:host:4242:abc',4242,1,'2026-12-02 06:02:48.465476','2026-12-02 06:02:48.465476');
CREATE TABLE webhook_delivery (
	delivery_id VARCHAR(200) NOT NULL, 
	event VARCHAR NOT NULL, 
	record_id VARCHAR, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (delivery_id)
);
INSERT INTO webhook_delivery VALUES('d-1','customer.saved','101','2026-12-02 06:02:48.758854');
CREATE TABLE webhook_inbox (
	id INTEGER NOT NULL, 
	content_sha256 VARCHAR(64) NOT NULL, 
	delivery_id VARCHAR(200) NOT NULL, 
	event VARCHAR NOT NULL, 
	record_id VARCHAR, 
	occurred_at DATETIME NOT NULL, 
	received_at DATETIME NOT NULL, 
	state VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error VARCHAR, 
	settled_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (content_sha256)
);
INSERT INTO webhook_inbox VALUES(1,'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee','d-1','customer.saved','101','2026-11-30 22:00:00.000000','2026-12-02 06:02:48.758401','pending',0,NULL,NULL);
CREATE TABLE parked_resolution (
	id INTEGER NOT NULL, 
	parked_id INTEGER NOT NULL, 
	entity VARCHAR NOT NULL, 
	side VARCHAR NOT NULL, 
	record_id VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	with_id VARCHAR, 
	with_parked_id INTEGER, 
	"by" VARCHAR NOT NULL, 
	at DATETIME NOT NULL, 
	applied BOOLEAN NOT NULL, 
	applied_at DATETIME, 
	applied_run_id VARCHAR, 
	PRIMARY KEY (id)
);
CREATE TABLE alert (
	"key" VARCHAR(200) NOT NULL, 
	message VARCHAR NOT NULL, 
	since DATETIME NOT NULL, 
	mailed_at DATETIME, 
	PRIMARY KEY ("key")
);
INSERT INTO alert VALUES('rejected_key:sevDesk','sevDesk refused the key','2026-12-02 06:02:48.906831',NULL);
CREATE TABLE invoice_export (
	id INTEGER NOT NULL, 
	kleanapp_id VARCHAR NOT NULL, 
	number VARCHAR NOT NULL, 
	customer_id VARCHAR, 
	sevdesk_id VARCHAR, 
	sevdesk_number VARCHAR, 
	state VARCHAR NOT NULL, 
	held_reason VARCHAR, 
	task VARCHAR, 
	error VARCHAR, 
	format VARCHAR, 
	payload_hash VARCHAR, 
	kleanapp_version VARCHAR, 
	kleanapp_updated_at DATETIME, 
	total_net VARCHAR, 
	total_gross VARCHAR, 
	changed_after_export_at DATETIME, 
	last_run_id VARCHAR, 
	exported_at DATETIME, 
	accounting_status VARCHAR, 
	paid_amount VARCHAR, 
	status_checked_at DATETIME, 
	reported_status VARCHAR, 
	reported_paid VARCHAR, 
	reported_number VARCHAR, 
	einvoice_sha256 VARCHAR, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO invoice_export VALUES(1,'501','RE-2026-0001','101','7001','RE-0001','linked',NULL,NULL,NULL,'draft','ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',NULL,NULL,'100.00','119.00',NULL,NULL,'2026-11-30 22:00:00.000000','open','0.00','2026-11-30 22:00:00.000000',NULL,NULL,NULL,NULL,'2026-12-02 06:02:48.658062','2026-12-02 06:02:48.658667');
CREATE TABLE invoice_run (
	id VARCHAR NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	"trigger" VARCHAR NOT NULL, 
	format VARCHAR NOT NULL, 
	filters JSON, 
	counts JSON, 
	outcome VARCHAR NOT NULL, 
	error VARCHAR, 
	pid INTEGER, 
	result JSON, 
	PRIMARY KEY (id)
);
INSERT INTO invoice_run VALUES('inv000000001','2026-11-30 22:00:00.000000','2026-12-02 06:02:48.739661','manual','draft','{}','{"exported": 1}','ok',NULL,NULL,'null');
CREATE TABLE mail_memory (
	channel VARCHAR NOT NULL, 
	items JSON, 
	sent_at DATETIME, 
	PRIMARY KEY (channel)
);
INSERT INTO mail_memory VALUES('report','{"conflict:1": "2026-11-30T22:00:00+00:00"}','2026-11-30 22:00:00.000000');
CREATE TABLE part_inventory (
	id INTEGER NOT NULL, 
	side VARCHAR NOT NULL, 
	entity VARCHAR NOT NULL, 
	parts JSON, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (side, entity)
);
CREATE TABLE store_identity (
	id INTEGER NOT NULL, 
	store_id VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO store_identity VALUES(1,'ffeeabb774d64f1bbd647102be92abc5','2026-12-02 06:02:48.836183');
CREATE TABLE applied_plan (
	plan_id VARCHAR NOT NULL, 
	run_id VARCHAR NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (plan_id)
);
CREATE TABLE refusal (
	id INTEGER NOT NULL, 
	action_id VARCHAR NOT NULL, 
	entity VARCHAR NOT NULL, 
	"key" VARCHAR NOT NULL, 
	side VARCHAR NOT NULL, 
	op VARCHAR NOT NULL, 
	records JSON, 
	field VARCHAR, 
	message VARCHAR NOT NULL, 
	fingerprint VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	first_run_id VARCHAR NOT NULL, 
	last_run_id VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_link_entity ON link (entity);
CREATE INDEX ix_link_key ON link ("key");
CREATE INDEX ix_run_started_at ON run (started_at);
CREATE INDEX ix_journal_action_id ON journal (action_id);
CREATE INDEX ix_journal_run_id ON journal (run_id);
CREATE INDEX ix_journal_state ON journal (state);
CREATE INDEX ix_conflict_status ON "conflict" (status);
CREATE INDEX ix_conflict_run_id ON "conflict" (run_id);
CREATE INDEX ix_conflict_link_id ON "conflict" (link_id);
CREATE INDEX ix_parked_status ON parked (status);
CREATE INDEX ix_quarantine_run_id ON quarantine (run_id);
CREATE INDEX ix_webhook_delivery_received_at ON webhook_delivery (received_at);
CREATE INDEX ix_webhook_inbox_state ON webhook_inbox (state);
CREATE INDEX ix_webhook_inbox_received_at ON webhook_inbox (received_at);
CREATE UNIQUE INDEX ix_parked_resolution_parked_id ON parked_resolution (parked_id);
CREATE INDEX ix_parked_resolution_applied ON parked_resolution (applied);
CREATE INDEX ix_invoice_export_sevdesk_id ON invoice_export (sevdesk_id);
CREATE INDEX ix_invoice_export_number ON invoice_export (number);
CREATE INDEX ix_invoice_export_state ON invoice_export (state);
CREATE UNIQUE INDEX ix_invoice_export_kleanapp_id ON invoice_export (kleanapp_id);
CREATE INDEX ix_invoice_run_started_at ON invoice_run (started_at);
CREATE INDEX ix_refusal_status ON refusal (status);
CREATE INDEX ix_refusal_action_id ON refusal (action_id);
COMMIT;
