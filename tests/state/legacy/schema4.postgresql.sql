-- A state store made by kleansync before Alembic (schema_info 4); see make_legacy_store.py.

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE public.alert (
    key character varying(200) NOT NULL,
    message character varying NOT NULL,
    since timestamp without time zone NOT NULL,
    mailed_at timestamp without time zone
);

CREATE TABLE public.applied_plan (
    plan_id character varying NOT NULL,
    run_id character varying NOT NULL,
    applied_at timestamp without time zone NOT NULL
);

CREATE TABLE public.conflict (
    id integer NOT NULL,
    run_id character varying NOT NULL,
    entity character varying NOT NULL,
    link_id integer,
    key character varying NOT NULL,
    field character varying NOT NULL,
    base json,
    kleanapp json,
    sevdesk json,
    rule character varying NOT NULL,
    decision character varying NOT NULL,
    reason character varying NOT NULL,
    status character varying NOT NULL,
    resolution json,
    resolved_by character varying,
    resolved_at timestamp without time zone,
    created_at timestamp without time zone NOT NULL
);

CREATE SEQUENCE public.conflict_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.conflict_id_seq OWNED BY public.conflict.id;

CREATE TABLE public.cursor (
    id integer NOT NULL,
    side character varying NOT NULL,
    entity character varying NOT NULL,
    value timestamp without time zone NOT NULL
);

CREATE SEQUENCE public.cursor_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.cursor_id_seq OWNED BY public.cursor.id;

CREATE TABLE public.invoice_export (
    id integer NOT NULL,
    kleanapp_id character varying NOT NULL,
    number character varying NOT NULL,
    customer_id character varying,
    sevdesk_id character varying,
    sevdesk_number character varying,
    state character varying NOT NULL,
    held_reason character varying,
    task character varying,
    error character varying,
    format character varying,
    payload_hash character varying,
    kleanapp_version character varying,
    kleanapp_updated_at timestamp without time zone,
    total_net character varying,
    total_gross character varying,
    changed_after_export_at timestamp without time zone,
    last_run_id character varying,
    exported_at timestamp without time zone,
    accounting_status character varying,
    paid_amount character varying,
    status_checked_at timestamp without time zone,
    reported_status character varying,
    reported_paid character varying,
    reported_number character varying,
    einvoice_sha256 character varying,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);

CREATE SEQUENCE public.invoice_export_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.invoice_export_id_seq OWNED BY public.invoice_export.id;

CREATE TABLE public.invoice_run (
    id character varying NOT NULL,
    started_at timestamp without time zone NOT NULL,
    finished_at timestamp without time zone,
    trigger character varying NOT NULL,
    format character varying NOT NULL,
    filters json,
    counts json,
    outcome character varying NOT NULL,
    error character varying,
    pid integer,
    result json
);

CREATE TABLE public.journal (
    id integer NOT NULL,
    run_id character varying NOT NULL,
    action_id character varying NOT NULL,
    entity character varying NOT NULL,
    side character varying NOT NULL,
    op character varying NOT NULL,
    key character varying NOT NULL,
    target_id character varying,
    payload json,
    expected_version character varying,
    state character varying NOT NULL,
    result_id character varying,
    error character varying,
    created_at timestamp without time zone NOT NULL,
    finished_at timestamp without time zone
);

CREATE SEQUENCE public.journal_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.journal_id_seq OWNED BY public.journal.id;

CREATE TABLE public.link (
    id integer NOT NULL,
    entity character varying NOT NULL,
    key character varying NOT NULL,
    kleanapp_id character varying NOT NULL,
    sevdesk_id character varying NOT NULL,
    base json,
    kleanapp_raw json,
    sevdesk_raw json,
    kleanapp_version character varying,
    sevdesk_version character varying,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);

CREATE SEQUENCE public.link_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.link_id_seq OWNED BY public.link.id;

CREATE TABLE public.mail_memory (
    channel character varying NOT NULL,
    items json,
    sent_at timestamp without time zone
);

CREATE TABLE public.parked (
    id integer NOT NULL,
    run_id character varying NOT NULL,
    entity character varying NOT NULL,
    side character varying NOT NULL,
    record_id character varying NOT NULL,
    key character varying NOT NULL,
    reason character varying NOT NULL,
    candidates json,
    status character varying NOT NULL,
    created_at timestamp without time zone NOT NULL
);

CREATE SEQUENCE public.parked_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.parked_id_seq OWNED BY public.parked.id;

CREATE TABLE public.parked_resolution (
    id integer NOT NULL,
    parked_id integer NOT NULL,
    entity character varying NOT NULL,
    side character varying NOT NULL,
    record_id character varying NOT NULL,
    action character varying NOT NULL,
    with_id character varying,
    with_parked_id integer,
    by character varying NOT NULL,
    at timestamp without time zone NOT NULL,
    applied boolean NOT NULL,
    applied_at timestamp without time zone,
    applied_run_id character varying
);

CREATE SEQUENCE public.parked_resolution_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.parked_resolution_id_seq OWNED BY public.parked_resolution.id;

CREATE TABLE public.part_inventory (
    id integer NOT NULL,
    side character varying NOT NULL,
    entity character varying NOT NULL,
    parts json,
    updated_at timestamp without time zone NOT NULL
);

CREATE SEQUENCE public.part_inventory_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.part_inventory_id_seq OWNED BY public.part_inventory.id;

CREATE TABLE public.quarantine (
    id integer NOT NULL,
    run_id character varying NOT NULL,
    side character varying NOT NULL,
    entity character varying NOT NULL,
    record_id character varying,
    reason character varying NOT NULL,
    created_at timestamp without time zone NOT NULL
);

CREATE SEQUENCE public.quarantine_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.quarantine_id_seq OWNED BY public.quarantine.id;

CREATE TABLE public.refusal (
    id integer NOT NULL,
    action_id character varying NOT NULL,
    entity character varying NOT NULL,
    key character varying NOT NULL,
    side character varying NOT NULL,
    op character varying NOT NULL,
    records json,
    field character varying,
    message character varying NOT NULL,
    fingerprint character varying NOT NULL,
    status character varying NOT NULL,
    first_run_id character varying NOT NULL,
    last_run_id character varying NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);

CREATE SEQUENCE public.refusal_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.refusal_id_seq OWNED BY public.refusal.id;

CREATE TABLE public.run (
    id character varying NOT NULL,
    started_at timestamp without time zone NOT NULL,
    finished_at timestamp without time zone,
    trigger character varying NOT NULL,
    dry_run boolean NOT NULL,
    "full" boolean NOT NULL,
    options json,
    counts json,
    outcome character varying NOT NULL,
    error character varying,
    pid integer,
    result json
);

CREATE TABLE public.run_lock (
    name character varying NOT NULL,
    holder character varying NOT NULL,
    pid integer NOT NULL,
    token integer NOT NULL,
    since timestamp without time zone NOT NULL,
    heartbeat timestamp without time zone NOT NULL
);

CREATE TABLE public.schema_info (
    id integer NOT NULL,
    version integer NOT NULL
);

CREATE TABLE public.store_identity (
    id integer NOT NULL,
    store_id character varying NOT NULL,
    created_at timestamp without time zone NOT NULL
);

CREATE TABLE public.webhook_delivery (
    delivery_id character varying(200) NOT NULL,
    event character varying NOT NULL,
    record_id character varying,
    received_at timestamp without time zone NOT NULL
);

CREATE TABLE public.webhook_inbox (
    id integer NOT NULL,
    content_sha256 character varying(64) NOT NULL,
    delivery_id character varying(200) NOT NULL,
    event character varying NOT NULL,
    record_id character varying,
    occurred_at timestamp without time zone NOT NULL,
    received_at timestamp without time zone NOT NULL,
    state character varying NOT NULL,
    attempts integer NOT NULL,
    last_error character varying,
    settled_at timestamp without time zone
);

CREATE SEQUENCE public.webhook_inbox_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.webhook_inbox_id_seq OWNED BY public.webhook_inbox.id;

ALTER TABLE ONLY public.conflict ALTER COLUMN id SET DEFAULT nextval('public.conflict_id_seq'::regclass);

ALTER TABLE ONLY public.cursor ALTER COLUMN id SET DEFAULT nextval('public.cursor_id_seq'::regclass);

ALTER TABLE ONLY public.invoice_export ALTER COLUMN id SET DEFAULT nextval('public.invoice_export_id_seq'::regclass);

ALTER TABLE ONLY public.journal ALTER COLUMN id SET DEFAULT nextval('public.journal_id_seq'::regclass);

ALTER TABLE ONLY public.link ALTER COLUMN id SET DEFAULT nextval('public.link_id_seq'::regclass);

ALTER TABLE ONLY public.parked ALTER COLUMN id SET DEFAULT nextval('public.parked_id_seq'::regclass);

ALTER TABLE ONLY public.parked_resolution ALTER COLUMN id SET DEFAULT nextval('public.parked_resolution_id_seq'::regclass);

ALTER TABLE ONLY public.part_inventory ALTER COLUMN id SET DEFAULT nextval('public.part_inventory_id_seq'::regclass);

ALTER TABLE ONLY public.quarantine ALTER COLUMN id SET DEFAULT nextval('public.quarantine_id_seq'::regclass);

ALTER TABLE ONLY public.refusal ALTER COLUMN id SET DEFAULT nextval('public.refusal_id_seq'::regclass);

ALTER TABLE ONLY public.webhook_inbox ALTER COLUMN id SET DEFAULT nextval('public.webhook_inbox_id_seq'::regclass);

INSERT INTO public.alert VALUES ('rejected_key:sevDesk', 'sevDesk refused the key', '2026-12-02 06:03:13.133451', NULL);

INSERT INTO public.conflict VALUES (1, 'run000000001', 'customer', 1, 'K-10001', 'email', '"a@b.de"', '"c@b.de"', '"d@b.de"', 'manual', 'manual', '', 'open', 'null', NULL, NULL, '2026-12-02 06:03:12.261282');

INSERT INTO public.cursor VALUES (1, 'kleanapp', 'customer', '2026-11-30 22:00:00');
INSERT INTO public.cursor VALUES (2, 'sevdesk', 'customer', '2026-11-30 22:00:00');

INSERT INTO public.invoice_export VALUES (1, '501', 'RE-2026-0001', '101', '7001', 'RE-0001', 'linked', NULL, NULL, NULL, 'draft', 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', NULL, NULL, '100.00', '119.00', NULL, NULL, '2026-11-30 22:00:00', 'open', '0.00', '2026-11-30 22:00:00', NULL, NULL, NULL, NULL, '2026-12-02 06:03:12.654339', '2026-12-02 06:03:12.654895');

INSERT INTO public.invoice_run VALUES ('inv000000001', '2026-11-30 22:00:00', '2026-12-02 06:03:12.826986', 'manual', 'draft', '{}', '{"exported": 1}', 'ok', NULL, NULL, 'null');

INSERT INTO public.journal VALUES (1, 'run000000001', 'customer:K-10001:sevdesk:update', 'customer', 'sevdesk', 'update', 'K-10001', '9001', '{"company_name": "Glanz & Gloria GmbH"}', NULL, 'done', '9001', NULL, '2026-12-02 06:03:12.06522', '2026-12-02 06:03:12.203555');

INSERT INTO public.link VALUES (1, 'customer', 'K-10001', '101', '9001', '{"customer_number": "K-10001", "company_name": "Glanz & Gloria GmbH", "city": "Berlin"}', '{"company_name": "ab12"}', '{"company_name": "cd34"}', '2026-11-30T21:00:00Z', '2026-11-30T21:00:01Z', '2026-12-02 06:03:11.777463', '2026-12-02 06:03:11.777804');

INSERT INTO public.mail_memory VALUES ('report', '{"conflict:1": "2026-11-30T22:00:00+00:00"}', '2026-11-30 22:00:00');

INSERT INTO public.run VALUES ('run000000001', '2026-11-30 22:00:00', '2026-12-02 06:03:11.722966', 'schedule', false, false, '{}', '{"customer.sevdesk.update": 1}', 'ok', NULL, 4242, '{"counts": {"customer.sevdesk.update": 1}}');

INSERT INTO public.run_lock VALUES ('sync', 'released:host:4242:abc', 4242, 1, '2026-12-02 06:03:12.332912', '2026-12-02 06:03:12.332912');

INSERT INTO public.schema_info VALUES (1, 4);

INSERT INTO public.store_identity VALUES (1, '0387fe1bbe9148d2ba44beee27f13acf', '2026-12-02 06:03:13.009259');

INSERT INTO public.webhook_delivery VALUES ('d-1', 'customer.saved', '101', '2026-12-02 06:03:12.859979');

INSERT INTO public.webhook_inbox VALUES (1, 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', 'd-1', 'customer.saved', '101', '2026-11-30 22:00:00', '2026-12-02 06:03:12.845089', 'pending', 0, NULL, NULL);

SELECT pg_catalog.setval('public.conflict_id_seq', 1, true);

SELECT pg_catalog.setval('public.cursor_id_seq', 2, true);

SELECT pg_catalog.setval('public.invoice_export_id_seq', 1, true);

SELECT pg_catalog.setval('public.journal_id_seq', 1, true);

SELECT pg_catalog.setval('public.link_id_seq', 1, true);

SELECT pg_catalog.setval('public.parked_id_seq', 1, false);

SELECT pg_catalog.setval('public.parked_resolution_id_seq', 1, false);

SELECT pg_catalog.setval('public.part_inventory_id_seq', 1, false);

SELECT pg_catalog.setval('public.quarantine_id_seq', 1, false);

SELECT pg_catalog.setval('public.refusal_id_seq', 1, false);

SELECT pg_catalog.setval('public.webhook_inbox_id_seq', 1, true);

ALTER TABLE ONLY public.alert
    ADD CONSTRAINT alert_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.applied_plan
    ADD CONSTRAINT applied_plan_pkey PRIMARY KEY (plan_id);

ALTER TABLE ONLY public.conflict
    ADD CONSTRAINT conflict_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cursor
    ADD CONSTRAINT cursor_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cursor
    ADD CONSTRAINT cursor_side_entity_key UNIQUE (side, entity);

ALTER TABLE ONLY public.invoice_export
    ADD CONSTRAINT invoice_export_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.invoice_run
    ADD CONSTRAINT invoice_run_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.journal
    ADD CONSTRAINT journal_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.link
    ADD CONSTRAINT link_entity_kleanapp_id_key UNIQUE (entity, kleanapp_id);

ALTER TABLE ONLY public.link
    ADD CONSTRAINT link_entity_sevdesk_id_key UNIQUE (entity, sevdesk_id);

ALTER TABLE ONLY public.link
    ADD CONSTRAINT link_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.mail_memory
    ADD CONSTRAINT mail_memory_pkey PRIMARY KEY (channel);

ALTER TABLE ONLY public.parked
    ADD CONSTRAINT parked_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.parked_resolution
    ADD CONSTRAINT parked_resolution_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.part_inventory
    ADD CONSTRAINT part_inventory_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.part_inventory
    ADD CONSTRAINT part_inventory_side_entity_key UNIQUE (side, entity);

ALTER TABLE ONLY public.quarantine
    ADD CONSTRAINT quarantine_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.refusal
    ADD CONSTRAINT refusal_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.run_lock
    ADD CONSTRAINT run_lock_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.run
    ADD CONSTRAINT run_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.schema_info
    ADD CONSTRAINT schema_info_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.store_identity
    ADD CONSTRAINT store_identity_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.webhook_delivery
    ADD CONSTRAINT webhook_delivery_pkey PRIMARY KEY (delivery_id);

ALTER TABLE ONLY public.webhook_inbox
    ADD CONSTRAINT webhook_inbox_content_sha256_key UNIQUE (content_sha256);

ALTER TABLE ONLY public.webhook_inbox
    ADD CONSTRAINT webhook_inbox_pkey PRIMARY KEY (id);

CREATE INDEX ix_conflict_link_id ON public.conflict USING btree (link_id);

CREATE INDEX ix_conflict_run_id ON public.conflict USING btree (run_id);

CREATE INDEX ix_conflict_status ON public.conflict USING btree (status);

CREATE UNIQUE INDEX ix_invoice_export_kleanapp_id ON public.invoice_export USING btree (kleanapp_id);

CREATE INDEX ix_invoice_export_number ON public.invoice_export USING btree (number);

CREATE INDEX ix_invoice_export_sevdesk_id ON public.invoice_export USING btree (sevdesk_id);

CREATE INDEX ix_invoice_export_state ON public.invoice_export USING btree (state);

CREATE INDEX ix_invoice_run_started_at ON public.invoice_run USING btree (started_at);

CREATE INDEX ix_journal_action_id ON public.journal USING btree (action_id);

CREATE INDEX ix_journal_run_id ON public.journal USING btree (run_id);

CREATE INDEX ix_journal_state ON public.journal USING btree (state);

CREATE INDEX ix_link_entity ON public.link USING btree (entity);

CREATE INDEX ix_link_key ON public.link USING btree (key);

CREATE INDEX ix_parked_resolution_applied ON public.parked_resolution USING btree (applied);

CREATE UNIQUE INDEX ix_parked_resolution_parked_id ON public.parked_resolution USING btree (parked_id);

CREATE INDEX ix_parked_status ON public.parked USING btree (status);

CREATE INDEX ix_quarantine_run_id ON public.quarantine USING btree (run_id);

CREATE INDEX ix_refusal_action_id ON public.refusal USING btree (action_id);

CREATE INDEX ix_refusal_status ON public.refusal USING btree (status);

CREATE INDEX ix_run_started_at ON public.run USING btree (started_at);

CREATE INDEX ix_webhook_delivery_received_at ON public.webhook_delivery USING btree (received_at);

CREATE INDEX ix_webhook_inbox_received_at ON public.webhook_inbox USING btree (received_at);

CREATE INDEX ix_webhook_inbox_state ON public.webhook_inbox USING btree (state);

