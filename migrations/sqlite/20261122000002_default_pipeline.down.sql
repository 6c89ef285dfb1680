DELETE FROM stages WHERE pipeline_id = 'pipeline-sales';
DELETE FROM pipelines WHERE id = 'pipeline-sales';
